import Cleaner
import Glibc
import SystemPackage

/// Resources tracked for containers that are not (or not yet) in the GC
/// list, and the ids whose GC entry was released recently. A plain value:
/// the engine keeps it behind one mutex and decides, under it, where a newly
/// tracked resource goes (`supervisor_track_resource`'s semantics, in the
/// header):
/// - armed (RUNNING/STOPPING): kept here, released at that exit;
/// - exit already handled (remembered by the exit supervisor's table) or GC
///   entry released (remembered here), not re-armed since: released now;
/// - never armed: kept for its next arm or `gc_add_container`, bounded.
struct ResourceLedger {
    static let maxUnarmedIDs = 1024
    static let maxPerUnarmedID = 64
    static let rememberedExits = 4096

    private(set) var pending: [String: [TrackedResource]] = [:]
    /// Ids in `pending` that no monitor is armed for (bounded).
    private var unarmed: Set<String> = []
    /// Ids whose GC entry was released, with their runtime (a late RUNTIME
    /// resource needs it) and the sequence number of that exit; the ring
    /// `finishedOrder` holds (id, sequence) oldest first, so an id handled
    /// again (or forgotten) leaves only a stale ring slot behind.
    private var finished: [String: (runtime: String, sequence: UInt64)] = [:]
    private var finishedOrder: [(id: String, sequence: UInt64)] = []
    private var finishedHead = 0
    private var sequence: UInt64 = 0

    enum Placement: Equatable {
        /// Kept for the armed run (or the next arm).
        case kept
        /// The run it belongs to has ended: release it now (runtime named).
        case releaseNow(runtime: String)
    }

    /// Where `resource` of `id` goes. `armed`: a monitor is armed for `id`.
    mutating func track(_ resource: TrackedResource, for id: String, armed: Bool) throws(Errno) -> Placement {
        if armed {
            pending[id, default: []].append(resource)
            return .kept
        }
        if let runtime = finished[id]?.runtime { return .releaseNow(runtime: runtime) }
        if !unarmed.contains(id) && unarmed.count >= Self.maxUnarmedIDs { throw Errno.noSpace }
        if pending[id, default: []].count >= Self.maxPerUnarmedID { throw Errno.noSpace }
        pending[id, default: []].append(resource)
        unarmed.insert(id)
        return .kept
    }

    /// A monitor was armed for `id`: its resources belong to this run.
    mutating func armed(_ id: String) {
        unarmed.remove(id)
        forgetExit(id)
    }

    /// Takes the resources of `id` (its exit is being handled, or it goes
    /// to the GC list).
    mutating func take(_ id: String) -> [TrackedResource] {
        unarmed.remove(id)
        return pending.removeValue(forKey: id) ?? []
    }

    func cgroups(of id: String) -> [String] {
        (pending[id] ?? []).filter { $0.kind == .cgroup }.map(\.value)
    }

    func hasPending(_ id: String) -> Bool { pending[id]?.isEmpty == false }
    func pendingCount(_ id: String) -> Int { pending[id]?.count ?? 0 }

    /// The GC entry of `id` was released: late resources are released at once.
    mutating func rememberRelease(_ id: String, runtime: String) {
        sequence += 1
        finished[id] = (runtime, sequence)
        finishedOrder.append((id, sequence))
        // The oldest remembered exits are forgotten past the bound; ring
        // slots of ids handled again (or forgotten) since are skipped.
        while finished.count > Self.rememberedExits {
            let oldest = finishedOrder[finishedHead]
            finishedHead += 1
            if finished[oldest.id]?.sequence == oldest.sequence { finished[oldest.id] = nil }
        }
        if finishedOrder.count - finishedHead > 2 * Self.rememberedExits {
            finishedOrder = finishedOrder[finishedHead...].filter { finished[$0.id]?.sequence == $0.sequence }
            finishedHead = 0
        }
    }

    /// `id` was armed again or entered the GC list.
    mutating func forgetExit(_ id: String) {
        finished[id] = nil
    }

    /// At shutdown the armed FIFOs close, their exits not handled: the
    /// resources of ids that were armed are kept for their next arm (as if
    /// tracked before it, within the same bounds); those of ids never armed
    /// and the remembered exits are dropped. Returns what was kept and dropped.
    mutating func shutdown() -> (kept: Int, keptIDs: Int, dropped: Int) {
        var next = ResourceLedger()
        var kept = 0, dropped = 0
        for (id, resources) in pending {
            guard !unarmed.contains(id), next.unarmed.count < Self.maxUnarmedIDs else {
                dropped += resources.count
                continue
            }
            let keep = resources.prefix(Self.maxPerUnarmedID)
            next.pending[id] = Array(keep)
            next.unarmed.insert(id)
            kept += keep.count
            dropped += resources.count - keep.count
        }
        let ids = next.pending.count
        self = next
        return (kept, ids, dropped)
    }

    var unarmedCount: Int { unarmed.count }
    var rememberedExitCount: Int { finished.count }
}
