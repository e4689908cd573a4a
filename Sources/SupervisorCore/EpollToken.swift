/// What an event in the supervisor's epoll set is about, packed into the
/// event's 64-bit data: the kind in the low 4 bits, a slot index in the next
/// 28, the slot's generation in the high 32. An event whose generation no
/// longer matches its slot is stale (the slot was freed, maybe reused) and
/// is dropped; no pointer is ever stored in the kernel.
enum EpollToken: Equatable {
    /// The eventfd that wakes the epoll thread (shutdown).
    case wakeup
    /// An armed exit FIFO.
    case exitFIFO(Registration)
    /// The shared inotify instance of v2 OOM watches.
    case oomInotify
    /// The timer of v1 OOM follow-up reads.
    case oomTimer
    /// The eventfd of one v1 OOM watch.
    case oomEventFD(Registration)

    private enum Kind: UInt64 {
        case wakeup = 0, exitFIFO = 1, oomInotify = 2, oomTimer = 3, oomEventFD = 4
    }

    static let maxIndex: UInt32 = (1 << 28) - 1

    var data: UInt64 {
        switch self {
        case .wakeup: return Kind.wakeup.rawValue
        case let .exitFIFO(r): return Self.pack(.exitFIFO, r)
        case .oomInotify: return Kind.oomInotify.rawValue
        case .oomTimer: return Kind.oomTimer.rawValue
        case let .oomEventFD(r): return Self.pack(.oomEventFD, r)
        }
    }

    init?(data: UInt64) {
        let r = Registration(index: UInt32(truncatingIfNeeded: data >> 4) & Self.maxIndex,
                             generation: UInt32(truncatingIfNeeded: data >> 32))
        switch Kind(rawValue: data & 0xF) {
        case .wakeup?: self = .wakeup
        case .exitFIFO?: self = .exitFIFO(r)
        case .oomInotify?: self = .oomInotify
        case .oomTimer?: self = .oomTimer
        case .oomEventFD?: self = .oomEventFD(r)
        case nil: return nil
        }
    }

    private static func pack(_ kind: Kind, _ r: Registration) -> UInt64 {
        kind.rawValue | UInt64(r.index & maxIndex) << 4 | UInt64(r.generation) << 32
    }
}

/// A slot index and the generation the slot had when it was registered.
struct Registration: Hashable, Sendable {
    let index: UInt32
    let generation: UInt32
}
