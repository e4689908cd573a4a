import Glibc
import Platform

/// What an armed monitor was given; never changes after arming.
struct MonitorHeader {
    let info: PidInfo
    /// The FIFO's read end; closed by the exit supervisor, exactly once.
    let fd: Int32
    let runtime: UInt16
    let idLength: UInt16
}

/// One armed exit FIFO in a single allocation: the header above with the
/// container id's bytes stored after it (ids are 64 characters in iSulad),
/// so thousands of armed monitors stay small. Immutable: what changes
/// while the exit is read (phase, status bytes) lives in the table's slot.
final class Monitor: ManagedBuffer<MonitorHeader, UInt8> {
    static func make(id: String, runtime: UInt16, info: PidInfo, fd: Int32) -> Monitor {
        var id = id
        return id.withUTF8 { bytes in
            let buffer = Monitor.create(minimumCapacity: bytes.count) { _ in
                MonitorHeader(info: info, fd: fd, runtime: runtime, idLength: UInt16(bytes.count))
            }
            let monitor = unsafeDowncast(buffer, to: Monitor.self)
            monitor.withUnsafeMutablePointerToElements { p in
                if let base = bytes.baseAddress { p.initialize(from: base, count: bytes.count) }
            }
            return monitor
        }
    }

    var info: PidInfo { header.info }
    var fd: Int32 { header.fd }
    var runtime: UInt16 { header.runtime }

    var id: String {
        withUnsafeMutablePointers { h, e in
            String(decoding: UnsafeBufferPointer(start: e, count: Int(h.pointee.idLength)), as: UTF8.self)
        }
    }

    func withID<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        withUnsafeMutablePointers { h, e in body(UnsafeBufferPointer(start: e, count: Int(h.pointee.idLength))) }
    }
}

/// Every armed monitor, by registration (the epoll token) and by id, and
/// the ids whose exit was handled recently. A plain value: the exit
/// supervisor keeps it behind its one lock.
///
/// Slots are reused through a free list; a slot's generation grows each
/// time it is freed, so a registration taken before is recognised as stale.
/// The id index is an open-addressing table of slot numbers; each slot keeps
/// its id's hash, so a lookup by id hashes once and a deletion never rehashes.
///
/// A handled exit keeps its slot (phase `handled`: fd closed, id and runtime
/// kept) so a resource tracked for the id afterwards is released at once;
/// the last `rememberedExits` are kept, a re-arm of the id replaces its slot.
struct MonitorTable {
    static let rememberedExits = 4096

    /// Where a monitor is in its life. armed → reading (a worker holds it;
    /// back to armed when the status is incomplete) → stopping (exit read,
    /// being handled) → handled (remembered) → removed.
    enum Phase: UInt8 { case armed, reading, stopping, handled }

    struct Slot {
        var monitor: Monitor?
        /// The hash of the monitor's id (the index's key).
        var hash = 0
        var generation: UInt32 = 0
        var phase = Phase.armed
        /// A resource was tracked for this run (it waits in the engine's
        /// ledger) since the exit handler last took them.
        var tracked = false
        /// Status bytes read so far (a status may arrive in pieces).
        var status = StatusAccumulator()
    }

    private(set) var slots: [Slot] = []
    private var free: [UInt32] = []
    /// Slot numbers, -1 for empty; capacity a power of two, at most half full.
    private var buckets: [Int32] = []
    /// Monitors not yet handled (armed, reading, stopping).
    private(set) var count = 0
    /// Handled exits remembered; `handledOrder` holds their registrations
    /// oldest first (entries of slots freed since are skipped).
    private(set) var handledCount = 0
    private var handledOrder: [Registration] = []
    private var handledHead = 0
    var runtimes = RuntimeNames()

    static func hash(_ id: UnsafeBufferPointer<UInt8>) -> Int {
        var h = Hasher()
        h.combine(bytes: UnsafeRawBufferPointer(id))
        return h.finalize()
    }

    /// Inserts `monitor`, replacing a handled exit of the same id; nil when
    /// its id is armed (not yet handled), or the table is full.
    mutating func insert(_ monitor: Monitor) -> Registration? {
        let hash = monitor.withID { Self.hash($0) }
        if let found = monitor.withID({ find($0, hash: hash) }) {
            guard slots[Int(found)].phase == .handled else { return nil }
            remove(Registration(index: found, generation: slots[Int(found)].generation))
        }
        // Grown before the new slot is filled: a rehash places only the others.
        if (count + handledCount + 1) * 2 > buckets.count { rehash(capacity: max(16, buckets.count * 2)) }
        let index: UInt32
        if let reused = free.popLast() {
            index = reused
        } else {
            guard slots.count < Int(EpollToken.maxIndex) else { return nil }
            index = UInt32(slots.count)
            slots.append(Slot())
        }
        let generation = slots[Int(index)].generation
        slots[Int(index)] = Slot(monitor: monitor, hash: hash, generation: generation)
        placeInBucket(index)
        count += 1
        return Registration(index: index, generation: generation)
    }

    /// The slot of a registration that is still current.
    func slot(_ r: Registration) -> Slot? {
        guard Int(r.index) < slots.count else { return nil }
        let s = slots[Int(r.index)]
        return s.monitor != nil && s.generation == r.generation ? s : nil
    }

    mutating func update(_ r: Registration, _ body: (inout Slot) -> Void) {
        guard slot(r) != nil else { return }
        body(&slots[Int(r.index)])
    }

    /// The current registration for `id`, handled exits included.
    func registration(of id: String) -> Registration? {
        var id = id
        return id.withUTF8 { bytes in
            find(bytes, hash: Self.hash(bytes)).map { Registration(index: $0, generation: slots[Int($0)].generation) }
        }
    }

    /// The exit of `r` is handled: remembered (the oldest past the bound
    /// are forgotten).
    mutating func markHandled(_ r: Registration) {
        guard let s = slot(r), s.phase != .handled else { return }
        slots[Int(r.index)].phase = .handled
        slots[Int(r.index)].tracked = false
        count -= 1
        handledCount += 1
        handledOrder.append(r)
        while handledCount > Self.rememberedExits {
            let oldest = handledOrder[handledHead]
            handledHead += 1
            if slot(oldest)?.phase == .handled { remove(oldest) }
        }
        // Entries of slots freed since (re-armed ids) are dropped now and then.
        if handledOrder.count - handledHead > 2 * Self.rememberedExits {
            handledOrder = handledOrder[handledHead...].filter { slot($0)?.phase == .handled }
            handledHead = 0
        } else if handledHead == handledOrder.count {
            handledOrder.removeAll(keepingCapacity: true)
            handledHead = 0
        }
    }

    /// Frees the slot of `r` (its generation moves on).
    mutating func remove(_ r: Registration) {
        guard let s = slot(r) else { return }
        removeFromBuckets(r.index)
        if s.phase == .handled { handledCount -= 1 } else { count -= 1 }
        slots[Int(r.index)].monitor = nil
        slots[Int(r.index)].generation &+= 1
        free.append(r.index)
    }

    /// Current registrations, for walks that may remove as they go.
    var registrations: [Registration] {
        slots.indices.compactMap { i in
            slots[i].monitor == nil ? nil : Registration(index: UInt32(i), generation: slots[i].generation)
        }
    }

    // MARK: id index

    private func find(_ id: UnsafeBufferPointer<UInt8>, hash: Int) -> UInt32? {
        guard !buckets.isEmpty else { return nil }
        let mask = buckets.count - 1
        var b = hash & mask
        while buckets[b] >= 0 {
            let index = UInt32(buckets[b])
            if slots[Int(index)].hash == hash, slots[Int(index)].monitor!.withID({ Self.equal($0, id) }) { return index }
            b = (b + 1) & mask
        }
        return nil
    }

    private static func equal(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        guard let pa = a.baseAddress, let pb = b.baseAddress else { return true }
        return memcmp(pa, pb, a.count) == 0
    }

    private func home(of index: UInt32) -> Int {
        slots[Int(index)].hash & (buckets.count - 1)
    }

    private mutating func placeInBucket(_ index: UInt32) {
        let mask = buckets.count - 1
        var b = home(of: index)
        while buckets[b] >= 0 { b = (b + 1) & mask }
        buckets[b] = Int32(index)
    }

    private mutating func rehash(capacity: Int) {
        buckets = [Int32](repeating: -1, count: capacity)
        for i in slots.indices where slots[i].monitor != nil { placeInBucket(UInt32(i)) }
    }

    /// Linear probing with backward-shift deletion: no tombstones, so
    /// lookups stay short however many monitors come and go.
    private mutating func removeFromBuckets(_ index: UInt32) {
        let mask = buckets.count - 1
        var hole = home(of: index)
        while buckets[hole] != Int32(index) { hole = (hole + 1) & mask }
        var next = hole
        while true {
            next = (next + 1) & mask
            guard buckets[next] >= 0 else { break }
            let h = home(of: UInt32(buckets[next]))
            // Move the entry back into the hole unless its home lies
            // cyclically in (hole, next].
            let homeBetween = hole <= next ? (h > hole && h <= next) : (h > hole || h <= next)
            if !homeBetween {
                buckets[hole] = buckets[next]
                hole = next
            }
        }
        buckets[hole] = -1
    }
}

/// Runtime names are few ("runc", "lcr", "kata-runtime"): monitors store a
/// small index instead of a string each.
struct RuntimeNames {
    private var names: [String] = []
    private var index: [String: UInt16] = [:]

    /// nil once 65,535 distinct names are in use.
    mutating func intern(_ name: String) -> UInt16? {
        if let i = index[name] { return i }
        guard names.count < Int(UInt16.max) else { return nil }
        let i = UInt16(names.count)
        names.append(name)
        index[name] = i
        return i
    }

    func name(_ i: UInt16) -> String { Int(i) < names.count ? names[Int(i)] : "" }
}
