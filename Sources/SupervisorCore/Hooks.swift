import Diagnostics
import Platform

/// The engine's hooks, as Swift closures (the ABI layer wraps the C function
/// pointers and ctx). A nil member means "use the default".
public struct Hooks: Sendable {
    public var processAlive: (@Sendable (_ id: String, _ runtime: String, _ pid: Int32, _ startTime: UInt64) -> Int32)?
    public var killProcess: (@Sendable (_ id: String, _ runtime: String, _ pid: Int32, _ startTime: UInt64, _ signal: Int32) -> Int32)?
    public var cleanResource: (@Sendable (_ id: String, _ runtime: String, _ pid: Int32) -> Int32)?
    public var containerStopped: (@Sendable (_ id: String, _ pid: Int32, _ exitCode: Int32) -> Void)?
    public var gcDone: (@Sendable (_ id: String) -> Void)?
    public var resume: (@Sendable (_ id: String, _ runtime: String) -> Int32)?
    public var log: (@Sendable (LogLevel, String) -> Void)?
    /// Since 1.1: the cumulative OOM-kill count of the container's cgroups grew.
    public var containerOOM: (@Sendable (_ id: String, _ oomKills: UInt64) -> Void)?

    public init() {}
}

/// Liveness as the flows need it: the hook's answer or the default probe.
enum Liveness: Equatable {
    case alive, gone, error
}

extension Hooks {
    func liveness(id: String, runtime: String, pid: Int32, startTime: UInt64) -> Liveness {
        guard pid > 0 else { return .gone }
        if let hook = processAlive {
            switch hook(id, runtime, pid, startTime) {
            case 0: return .gone
            case 1: return .alive
            default: return .error
            }
        }
        switch ProcessProbe.liveness(pid: pid, startTime: startTime) {
        case .alive: return .alive
        case .gone: return .gone
        case let .unknown(err):
            Log.warning("\(id): cannot check process \(pid): \(err)")
            return .error
        }
    }

    /// true when the signal was sent or the process is already gone.
    func kill(id: String, runtime: String, pid: Int32, startTime: UInt64, signal: Int32) -> Bool {
        guard pid > 0 else { return true }
        if let hook = killProcess { return hook(id, runtime, pid, startTime, signal) == 0 }
        do {
            try ProcessProbe.signal(pid: pid, startTime: startTime, signal: signal)
            return true
        } catch {
            Log.warning("\(id): cannot signal process \(pid): \(error)")
            return false
        }
    }
}
