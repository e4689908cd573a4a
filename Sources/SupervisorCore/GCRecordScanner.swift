import Cleaner
import Platform

/// Reads back a record this library encoded (`GCFileFormat.encode`): its
/// keys in their fixed order, strings and unsigned integers only, no whitespace. A
/// GC attempt decodes its entry's record each time, and this is several
/// times cheaper than building a JSON tree. Anything else (keys kept from a
/// file that this library does not interpret, any other shape) gives nil,
/// and the caller decodes with the general JSON parser.
struct GCRecordScanner {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var at = 0

    static func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> GCEntry? {
        var s = GCRecordScanner(bytes: bytes)
        return s.entry()
    }

    private init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    private mutating func entry() -> GCEntry? {
        guard literal("{\"id\":"), let id = string(),
              literal(",\"runtime\":"), let runtime = string(),
              literal(",\"pid\":"), let pid = unsigned().flatMap({ Int32(exactly: $0) }),
              literal(",\"StartTime\":"), let start = unsigned(),
              literal(",\"ppid\":"), let ppid = unsigned().flatMap({ Int32(exactly: $0) }),
              literal(",\"PStartTime\":"), let pstart = unsigned()
        else { return nil }
        var entry = GCEntry(id: id, runtime: runtime,
                            info: PidInfo(pid: pid, ppid: ppid, startTime: start, pstartTime: pstart), resources: [])
        if literal(",\"\(GCFileFormat.resourcesKey)\":[") {
            guard let resources = resourceList() else { return nil }
            entry.resources = resources
        }
        if literal(",\"\(GCFileFormat.attemptsKey)\":") {
            guard let attempts = unsigned().flatMap({ Int32(exactly: $0) }) else { return nil }
            entry.attempts = Int(attempts)
        }
        if literal(",\"\(GCFileFormat.engineReleasedKey)\":true") { entry.engineReleased = true }
        if literal(",\"\(GCFileFormat.lastErrorKey)\":") {
            guard let lastError = string() else { return nil }
            entry.lastError = lastError
        }
        guard literal("}"), at == bytes.count else { return nil }
        return entry
    }

    /// After the opening `[`: `{"kind":…,"value":…,"busy":…}` items, then `]`.
    private mutating func resourceList() -> [TrackedResource]? {
        var resources: [TrackedResource] = []
        if literal("]") { return resources }
        repeat {
            guard literal("{\"kind\":"), let name = string(), let kind = ResourceKind(name: name),
                  literal(",\"value\":"), let value = string(),
                  literal(",\"busy\":"), let busy = unsigned().flatMap({ Int32(exactly: $0) }),
                  literal("}")
            else { return nil }
            resources.append(TrackedResource(kind: kind, value: value, busyCount: Int(busy)))
        } while literal(",")
        return literal("]") ? resources : nil
    }

    /// Consumes `text` if the bytes continue with it.
    private mutating func literal(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { t in
            guard bytes.count - at >= t.count else { return false }
            for k in 0..<t.count where bytes[at + k] != t[k] { return false }
            at += t.count
            return true
        }
    }

    /// A JSON string; escapes as yajl writes them (`\uXXXX` outside the
    /// surrogate range only, else nil).
    private mutating func string() -> String? {
        guard at < bytes.count, bytes[at] == UInt8(ascii: "\"") else { return nil }
        at += 1
        let start = at
        while at < bytes.count, bytes[at] != UInt8(ascii: "\""), bytes[at] != UInt8(ascii: "\\") { at += 1 }
        guard at < bytes.count else { return nil }
        if bytes[at] == UInt8(ascii: "\"") {
            defer { at += 1 }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self)
        }
        var out = Array(bytes[start..<at])
        while at < bytes.count {
            let b = bytes[at]
            at += 1
            if b == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
            guard b == UInt8(ascii: "\\") else {
                out.append(b)
                continue
            }
            guard at < bytes.count else { return nil }
            let e = bytes[at]
            at += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                guard bytes.count - at >= 4, let code = UInt32(String(decoding: UnsafeBufferPointer(rebasing: bytes[at..<at + 4]), as: UTF8.self), radix: 16),
                      let scalar = Unicode.Scalar(code) else { return nil }
                at += 4
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default: return nil
            }
        }
        return nil
    }

    private mutating func digits() -> UInt64? {
        let start = at
        var value: UInt64 = 0
        while at < bytes.count, bytes[at] >= UInt8(ascii: "0"), bytes[at] <= UInt8(ascii: "9") {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(bytes[at] - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            value = a
            at += 1
        }
        return at > start ? value : nil
    }

    /// Numbers as the general decoder takes them: unsigned, in range.
    private mutating func unsigned() -> UInt64? { digits() }
}
