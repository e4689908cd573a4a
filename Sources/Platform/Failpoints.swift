import Glibc
import Synchronization
import SystemPackage

/// Fault injection for tests, armed by the environment:
///
///     SUPERVISOR_FAILPOINTS="gc.persist.rename=error;clean.mount=delay:2000;fifo.read=error*3"
///
/// Each point is `name=action[:arg][*count]` where action is `error` (arg: an
/// errno number, default EIO), `delay` (arg: milliseconds) or `crash`
/// (SIGKILL of the process: what a power cut looks like to the disk).
/// `*count` limits the point to its first `count` hits. Read once, at the
/// first hit; with the variable unset a hit costs one load of a global.
public enum Failpoint {
    public enum Action: Sendable, Equatable {
        case error(Int32)
        case delay(Int)
        case crash
    }

    struct Point: Sendable {
        var action: Action
        var remaining: Int?
    }

    private final class Table: Sendable {
        let points: Mutex<[String: Point]>
        init(_ points: [String: Point]) { self.points = Mutex(points) }
    }

    private static let table: Table? = {
        guard let raw = getenv("SUPERVISOR_FAILPOINTS"), raw.pointee != 0 else { return nil }
        let points = parse(String(cString: raw))
        return points.isEmpty ? nil : Table(points)
    }()

    /// Points armed in-process by tests (`arm`), for processes whose
    /// environment was read before the test could set it.
    private static let armedInProcess = Atomic<Bool>(false)
    private static let processTable = Table([:])

    /// Tests: arms `spec` (the variable's syntax) in this process.
    static func arm(_ spec: String) {
        processTable.points.withLock { $0.merge(parse(spec)) { $1 } }
        armedInProcess.store(true, ordering: .releasing)
    }

    private static var active: Table? {
        table ?? (armedInProcess.load(ordering: .acquiring) ? processTable : nil)
    }

    /// Parses the variable's syntax; malformed items are ignored.
    static func parse(_ spec: String) -> [String: Point] {
        var points: [String: Point] = [:]
        for item in spec.split(separator: ";") {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { continue }
            var actionText = parts[1]
            var remaining: Int?
            if let star = actionText.firstIndex(of: "*") {
                remaining = Int(actionText[actionText.index(after: star)...])
                actionText = String(actionText[..<star])
            }
            let fields = actionText.split(separator: ":", maxSplits: 1).map(String.init)
            let action: Action
            switch fields.first {
            case "error": action = .error(fields.count > 1 ? Int32(fields[1]) ?? EIO : EIO)
            case "delay": action = .delay(fields.count > 1 ? Int(fields[1]) ?? 0 : 0)
            case "crash": action = .crash
            default: continue
            }
            points[parts[0]] = Point(action: action, remaining: remaining)
        }
        return points
    }

    /// Point `prefix.step`; nil at once when no prefix is given or no point
    /// is armed, without building the name.
    public static func check(_ prefix: String?, _ step: StaticString) -> Errno? {
        guard let prefix, active != nil else { return nil }
        return check(prefix + "." + "\(step)")
    }

    /// Evaluates point `name`: sleeps for a delay, dies for a crash, and
    /// returns the errno to fail with for an error (nil: carry on).
    @discardableResult
    public static func check(_ name: String) -> Errno? {
        guard let table = active else { return nil }
        let action: Action? = table.points.withLock { points in
            guard var point = points[name] else { return nil }
            if let r = point.remaining {
                if r <= 0 { return nil }
                point.remaining = r - 1
                points[name] = point
            }
            return point.action
        }
        switch action {
        case nil: return nil
        case let .error(code)?: return Errno(rawValue: code)
        case let .delay(ms)?:
            sleepMs(ms)
            return nil
        case .crash?:
            kill(getpid(), SIGKILL)
            return nil
        }
    }
}
