import CShim

/// Fault injection for tests, the library's syntax restricted to what the
/// shim's points use: SUPERVISOR_FAILPOINTS="shim.exit_record=error:28;…"
/// (`error[:errno][*count]`, `delay:ms`, `crash`). Single-threaded: a plain
/// global table, read at the first check.
enum Failpoint {
    private enum Action { case error(Int32), delay(Int), crash }
    private struct Point { var name: String; var action: Action; var remaining: Int? }

    nonisolated(unsafe) private static var points: [Point]? = nil

    static func check(_ name: String) -> Errno? {
        if points == nil { points = load() }
        guard let i = points!.firstIndex(where: { $0.name.utf8.elementsEqual(name.utf8) }) else { return nil }
        if let r = points![i].remaining {
            if r <= 0 { return nil }
            points![i].remaining = r - 1
        }
        switch points![i].action {
        case let .error(code): return Errno(code)
        case let .delay(ms): Clock.sleepMs(ms); return nil
        case .crash: _ = kill(getpid(), SIGKILL); return nil
        }
    }

    private static func load() -> [Point] {
        guard let raw = getenv("SUPERVISOR_FAILPOINTS") else { return [] }
        let spec = Array(String(cString: raw).utf8)
        var out: [Point] = []
        for item in spec.split(separator: UInt8(ascii: ";")) {
            guard let eq = item.firstIndex(of: UInt8(ascii: "=")), eq > item.startIndex else { continue }
            let name = String(decoding: item[item.startIndex..<eq], as: UTF8.self)
            var action = item[(eq + 1)...]
            var remaining: Int? = nil
            if let star = action.firstIndex(of: UInt8(ascii: "*")) {
                remaining = parseDecimal(action[(star + 1)...]).map { Int($0) }
                action = action[action.startIndex..<star]
            }
            var arg: UInt64? = nil
            var verb = action
            if let colon = action.firstIndex(of: UInt8(ascii: ":")) {
                arg = parseDecimal(action[(colon + 1)...])
                verb = action[action.startIndex..<colon]
            }
            let a: Action
            if verb.elementsEqual("error".utf8) { a = .error(Int32(truncatingIfNeeded: arg ?? UInt64(EIO))) }
            else if verb.elementsEqual("delay".utf8) { a = .delay(Int(arg ?? 0)) }
            else if verb.elementsEqual("crash".utf8) { a = .crash }
            else { continue }
            out.append(Point(name: name, action: a, remaining: remaining))
        }
        return out
    }
}
