import Glibc

/// The GC list's entries in insertion order with lookup by id. Each slot is
/// a record (the entry's JSON, GCRecord) and its schedule; removal leaves a
/// hole, compacted when holes dominate, so writing the file walks slots in
/// order without sorting or hashing. The id index is an open-addressing
/// table of slot numbers hashed on the ids' JSON bytes inside the records:
/// no id is stored twice, each slot keeps its hash, and a lookup of an id
/// without characters to escape allocates nothing.
struct GCEntryTable {
    struct Slot {
        var record: GCRecord
        /// Monotonic time the next attempt is due.
        var nextDueNs: Int64 = 0
        /// Bumped when the entry is replaced or gains a resource, so the
        /// result of an attempt begun before is not applied to it.
        var epoch: UInt32 = 0
        /// Bumped only when the entry is replaced (gc_add_container again):
        /// an attempt superseded by appended resources alone still counts
        /// for what it released.
        var replacement: UInt32 = 0
        var inFlight = false
        /// "stuck" was logged once for it.
        var loggedStuck = false
        /// The hash of the record's escaped id (the index's key), kept by the table.
        fileprivate(set) var hash = 0

        init(record: GCRecord, nextDueNs: Int64 = 0) {
            self.record = record
            self.nextDueNs = nextDueNs
        }

        var entry: GCEntry { record.entry }
    }

    private var slots: [Slot?] = []
    /// Slot numbers, -1 for empty; a power of two, at most half full.
    private var buckets: [Int32] = []
    private var live = 0
    private var holes = 0

    var count: Int { live }
    var isEmpty: Bool { live == 0 }

    subscript(id: String) -> Slot? {
        get { find(id).flatMap { slots[$0] } }
        set {
            if let i = find(id) {
                if var newValue {
                    // Same id, same bucket: the index does not move.
                    newValue.hash = slots[i]!.hash
                    slots[i] = newValue
                } else {
                    removeFromBuckets(i)
                    slots[i] = nil
                    live -= 1
                    holes += 1
                    compactIfSparse()
                }
            } else if var newValue {
                if (live + 1) * 2 > buckets.count { rehash(capacity: max(16, buckets.count * 2)) }
                newValue.hash = newValue.record.withEscapedID { Self.hash($0) }
                slots.append(newValue)
                live += 1
                place(slots.count - 1)
            }
        }
    }

    /// The slot of the entry with `record`'s id (that record or a newer one).
    func slot(sameIDAs record: GCRecord) -> Slot? {
        record.withEscapedID { find(escaped: $0) }.flatMap { slots[$0] }
    }

    mutating func update(sameIDAs record: GCRecord, _ body: (inout Slot) -> Void) {
        guard let i = record.withEscapedID({ find(escaped: $0) }) else { return }
        body(&slots[i]!)
    }

    /// Updates a slot in place.
    mutating func update(_ id: String, _ body: (inout Slot) -> Void) {
        guard let i = find(id) else { return }
        body(&slots[i]!)
    }

    /// Visits slots in insertion order; `body` may change them (not their id).
    mutating func forEachInOrder(_ body: (inout Slot) -> Void) {
        for i in slots.indices where slots[i] != nil { body(&slots[i]!) }
    }

    var inOrder: [Slot] { slots.compactMap { $0 } }

    // MARK: the id index

    private static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var h = Hasher()
        h.combine(bytes: UnsafeRawBufferPointer(bytes))
        return h.finalize()
    }

    private func home(_ i: Int) -> Int {
        slots[i]!.hash & (buckets.count - 1)
    }

    private func find(_ id: String) -> Int? {
        guard live > 0 else { return nil }
        return Self.withEscapedID(id) { find(escaped: $0) }
    }

    private func find(escaped p: UnsafeBufferPointer<UInt8>) -> Int? {
        guard live > 0 else { return nil }
        let hash = Self.hash(p)
        let mask = buckets.count - 1
        var b = hash & mask
        while buckets[b] >= 0 {
            let i = Int(buckets[b])
            if slots[i]!.hash == hash, slots[i]!.record.withEscapedID({ Self.equal($0, p) }) { return i }
            b = (b + 1) & mask
        }
        return nil
    }

    /// `id` as the records hold it; without a character to escape (iSulad's
    /// hex ids) its own bytes, no copy.
    private static func withEscapedID<R>(_ id: String, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        var id = id
        return id.withUTF8 { bytes in
            if !bytes.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) { return body(bytes) }
            return GCRecord.escapedID(String(decoding: bytes, as: UTF8.self)).withUnsafeBufferPointer(body)
        }
    }

    private static func equal(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        guard let pa = a.baseAddress, let pb = b.baseAddress else { return true }
        return memcmp(pa, pb, a.count) == 0
    }

    private mutating func place(_ i: Int) {
        let mask = buckets.count - 1
        var b = home(i)
        while buckets[b] >= 0 { b = (b + 1) & mask }
        buckets[b] = Int32(i)
    }

    private mutating func rehash(capacity: Int) {
        buckets = [Int32](repeating: -1, count: capacity)
        for i in slots.indices where slots[i] != nil { place(i) }
    }

    /// Backward-shift deletion: no tombstones.
    private mutating func removeFromBuckets(_ i: Int) {
        let mask = buckets.count - 1
        var hole = home(i)
        while buckets[hole] != Int32(i) { hole = (hole + 1) & mask }
        var next = hole
        while true {
            next = (next + 1) & mask
            guard buckets[next] >= 0 else { break }
            let h = home(Int(buckets[next]))
            let homeBetween = hole <= next ? (h > hole && h <= next) : (h > hole || h <= next)
            if !homeBetween {
                buckets[hole] = buckets[next]
                hole = next
            }
        }
        buckets[hole] = -1
    }

    private mutating func compactIfSparse() {
        guard holes > 32, holes * 2 > slots.count else { return }
        slots = slots.filter { $0 != nil }
        holes = 0
        rehash(capacity: buckets.count)
    }
}
