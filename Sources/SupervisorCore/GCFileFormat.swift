import Cleaner
import Platform
import SystemPackage

/// garbage.json in iSulad's format:
/// `{"GcContainers":[{"id","runtime","pid","StartTime","ppid","PStartTime"}]}`.
/// Readers accept what iSulad writes (zero-valued keys omitted, `{}` for an
/// empty list); the writer writes every key. Our extras live in extra keys.
enum GCFileFormat {
    static let listKey = "GcContainers"
    static let resourcesKey = "supervisor_resources"
    static let attemptsKey = "supervisor_attempts"
    static let engineReleasedKey = "supervisor_engine_released"
    static let lastErrorKey = "supervisor_last_error"
    /// Larger files are treated as damaged rather than parsed.
    static let maxFileSize = 64 << 20

    private static let knownKeys: Set<String> = [
        "id", "runtime", "pid", "StartTime", "ppid", "PStartTime",
        resourcesKey, attemptsKey, engineReleasedKey, lastErrorKey,
    ]

    struct Document {
        var entries: [GCEntry] = []
        var unknownTopKeys: [(String, JSONValue)] = []
        /// Entries dropped, with why (logged by the caller).
        var rejected: [String] = []
    }

    /// Throws for a file that is not a GC list at all (the caller keeps it
    /// aside as damaged); individual bad entries are rejected, not fatal.
    static func decode(_ bytes: [UInt8]) throws(JSONError) -> Document {
        let root = try JSON.parse(bytes)
        guard case let .object(members) = root else { throw JSONError("top level is not an object") }
        var doc = Document()
        for (key, value) in members {
            if key == listKey {
                switch value {
                // Some writers emit an empty list as null or {}.
                case .null: continue
                case let .object(members) where members.isEmpty: continue
                case let .array(items):
                    for (index, item) in items.enumerated() {
                        switch decodeEntry(item) {
                        case let .success(entry): doc.entries.append(entry)
                        case let .failure(why): doc.rejected.append("entry \(index): \(why.description)")
                        }
                    }
                default: throw JSONError("\(listKey) is not an array")
                }
            } else {
                doc.unknownTopKeys.append((key, value))
            }
        }
        return doc
    }

    private static func decodeEntry(_ value: JSONValue) -> Result<GCEntry, JSONError> {
        guard case let .object(members) = value else { return .failure(JSONError("not an object")) }
        guard let id = value["id"]?.stringValue, !id.isEmpty else { return .failure(JSONError("no id")) }
        do throws(Errno) {
            try Validate.containerID(id)
        } catch {
            return .failure(JSONError("invalid id"))
        }
        func number(_ key: String) -> Int64? { value[key]?.int64Value }
        let info = PidInfo(
            pid: Int32(truncatingIfNeeded: number("pid") ?? 0),
            ppid: Int32(truncatingIfNeeded: number("ppid") ?? 0),
            startTime: UInt64(truncatingIfNeeded: number("StartTime") ?? 0),
            pstartTime: UInt64(truncatingIfNeeded: number("PStartTime") ?? 0))
        var resources: [TrackedResource] = []
        if case let .array(items)? = value[resourcesKey] {
            for item in items {
                guard let kindName = item["kind"]?.stringValue, let kind = ResourceKind(name: kindName),
                      let v = item["value"]?.stringValue else { continue }
                let busy = Int(item["busy"]?.int64Value ?? 0)
                resources.append(TrackedResource(kind: kind, value: v, busyCount: max(0, busy)))
            }
        }
        var entry = GCEntry(id: id, runtime: value["runtime"]?.stringValue ?? "", info: info, resources: resources)
        entry.attempts = Int(max(0, min(number(attemptsKey) ?? 0, 1 << 40)))
        entry.engineReleased = value[engineReleasedKey]?.boolValue ?? false
        entry.lastError = value[lastErrorKey]?.stringValue
        entry.unknownKeys = members.filter { !knownKeys.contains($0.0) }
        return .success(entry)
    }

    /// The JSON object of one entry, every iSulad key included.
    static func encode(_ entry: GCEntry) -> [UInt8] {
        let w = JSONWriter()
        w.mapOpen()
        w.key("id"); w.string(entry.id)
        w.key("runtime"); w.string(entry.runtime)
        w.key("pid"); w.int(Int64(entry.info.pid))
        w.key("StartTime"); w.uint(entry.info.startTime)
        w.key("ppid"); w.int(Int64(entry.info.ppid))
        w.key("PStartTime"); w.uint(entry.info.pstartTime)
        if !entry.resources.isEmpty {
            w.key(resourcesKey)
            writeResources(entry.resources, to: w)
        }
        if entry.attempts > 0 { w.key(attemptsKey); w.int(Int64(entry.attempts)) }
        if entry.engineReleased { w.key(engineReleasedKey); w.bool(true) }
        if let lastError = entry.lastError { w.key(lastErrorKey); w.string(lastError) }
        for (k, v) in entry.unknownKeys {
            w.key(k)
            w.write(v)
        }
        w.mapClose()
        return w.finish()
    }

    /// `[{"kind","value","busy"}...]`: tracked resources as garbage.json and
    /// the status JSON show them.
    static func writeResources(_ resources: [TrackedResource], to w: borrowing JSONWriter) {
        w.arrayOpen()
        for r in resources {
            w.mapOpen()
            w.key("kind"); w.string(r.kind.name)
            w.key("value"); w.string(r.value)
            w.key("busy"); w.int(Int64(r.busyCount))
            w.mapClose()
        }
        w.arrayClose()
    }

    /// The whole file from already-encoded entries, in order.
    static func document(entries: [[UInt8]], unknownTopKeys: [(String, JSONValue)]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(entries.reduce(32) { $0 + $1.count + 1 })
        out.append(contentsOf: "{\"\(listKey)\":[".utf8)
        for (i, e) in entries.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: e)
        }
        out.append(UInt8(ascii: "]"))
        for (k, v) in unknownTopKeys {
            out.append(UInt8(ascii: ","))
            out.append(contentsOf: JSON.serialize(.string(k)))
            out.append(UInt8(ascii: ":"))
            out.append(contentsOf: JSON.serialize(v))
        }
        out.append(UInt8(ascii: "}"))
        return out
    }
}
