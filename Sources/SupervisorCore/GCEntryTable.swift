/// The GC list's entries in insertion order with lookup by id. Entries live
/// in a slot array (removal leaves a hole, compacted when holes dominate),
/// so writing the file walks slots in order without sorting or hashing.
/// Each slot carries the entry's schedule and its encoded JSON next to it.
struct GCEntryTable {
    struct Slot {
        var entry: GCEntry
        /// Monotonic time the next attempt is due.
        var nextDueNs: Int64 = 0
        /// Bumped when the entry is replaced or gains a resource, so the
        /// result of an attempt begun before is not applied to it.
        var epoch: UInt32 = 0
        var inFlight = false
        /// "stuck" was logged once for it.
        var loggedStuck = false
        /// The entry's JSON as last written, reused until it changes, so a
        /// rewrite concatenates instead of re-encoding every entry.
        var encoded: [UInt8] = []
    }

    private var slots: [Slot?] = []
    private var index: [String: Int] = [:]
    private var holes = 0

    var count: Int { index.count }
    var isEmpty: Bool { index.isEmpty }

    subscript(id: String) -> Slot? {
        get { index[id].flatMap { slots[$0] } }
        set {
            if let i = index[id] {
                if let newValue {
                    slots[i] = newValue
                } else {
                    slots[i] = nil
                    index[id] = nil
                    holes += 1
                    compactIfSparse()
                }
            } else if let newValue {
                index[id] = slots.count
                slots.append(newValue)
            }
        }
    }

    /// Updates a slot in place (no copy of its arrays).
    mutating func update(_ id: String, _ body: (inout Slot) -> Void) {
        guard let i = index[id], slots[i] != nil else { return }
        body(&slots[i]!)
    }

    /// Visits slots in insertion order; `body` may change them.
    mutating func forEachInOrder(_ body: (inout Slot) -> Void) {
        for i in slots.indices where slots[i] != nil { body(&slots[i]!) }
    }

    var inOrder: [Slot] { slots.compactMap { $0 } }

    private mutating func compactIfSparse() {
        guard holes > 32, holes * 2 > slots.count else { return }
        slots = slots.filter { $0 != nil }
        index.removeAll(keepingCapacity: true)
        for (i, s) in slots.enumerated() { index[s!.entry.id] = i }
        holes = 0
    }
}
