import Cleaner
import Platform

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
    /// Larger files are treated as damaged (quarantined) rather than parsed.
    /// The parse streams (one entry in memory at a time), so this bounds the
    /// list, not the parser: 64 MiB is about 140k entries with resources.
    static let maxFileSize = 64 << 20

    private static let knownKeys: Set<String> = [
        "id", "runtime", "pid", "StartTime", "ppid", "PStartTime",
        resourcesKey, attemptsKey, engineReleasedKey, lastErrorKey,
    ]

    struct Document {
        var entries: [GCEntry] = []
        var unknownTopKeys: [(String, JSONValue)] = []
        /// Entries refused (bad id, runtime, resource, duplicate id...), as
        /// read: kept in the list on rewrite, never interpreted.
        var refusedEntries: [JSONValue] = []
        /// Why each entry was refused (logged by the caller).
        var rejected: [String] = []
    }

    /// Streams garbage.json: feed chunks, then `finish`. Each element of
    /// GcContainers is decoded as soon as the parser completes it.
    final class Decoder {
        private(set) var doc = Document()
        private var ids: Set<String> = []
        private var index = 0
        private var parser: JSONStreamParser!

        init() {
            parser = JSONStreamParser(streamingItemsOf: GCFileFormat.listKey) { [unowned self] item in
                self.add(item)
            }
        }

        func feed(_ chunk: UnsafeBufferPointer<UInt8>) throws(JSONError) { try parser.feed(chunk) }

        /// Throws for a file that is not a GC list at all (the caller keeps it
        /// aside as damaged); bad entries are refused, not fatal.
        func finish() throws(JSONError) -> Document {
            let root = try parser.finish()
            guard case let .object(members) = root else { throw JSONError("top level is not an object") }
            for (key, value) in members {
                guard key == listKey else {
                    doc.unknownTopKeys.append((key, value))
                    continue
                }
                switch value {
                // Some writers emit an empty list as null or {}. The array's
                // elements were streamed through add().
                case .null: continue
                case let .object(members) where members.isEmpty: continue
                case let .array(items): for item in items { add(item) }
                default: throw JSONError("\(listKey) is not an array")
                }
            }
            return doc
        }

        private func add(_ item: JSONValue) {
            defer { index += 1 }
            switch decodeEntry(item) {
            case let .success(entry) where ids.insert(entry.id).inserted:
                doc.entries.append(entry)
            case let .success(entry):
                refuse(item, "duplicate id \(entry.id)")
            case let .failure(why):
                refuse(item, why.description)
            }
        }

        private func refuse(_ item: JSONValue, _ why: String) {
            doc.refusedEntries.append(item)
            doc.rejected.append("entry \(index): \(why)")
        }
    }

    static func decode(_ bytes: [UInt8]) throws(JSONError) -> Document {
        let decoder = Decoder()
        try bytes.withUnsafeBufferPointer { (p) throws(JSONError) in try decoder.feed(p) }
        return try decoder.finish()
    }

    /// The API's checks, byte for byte: the id (Validate.containerID), the
    /// runtime (Validate.runtimeName), each tracked resource
    /// (TrackedResource.validate); numbers in range, keys of the right type
    /// and not repeated. Anything else is refused whole: an entry is never
    /// repaired into a different one.
    /// One entry from its JSON object's bytes (a GC record).
    static func decodeEntry(_ bytes: [UInt8]) -> Result<GCEntry, JSONError> {
        do throws(JSONError) {
            return decodeEntry(try JSON.parse(bytes))
        } catch {
            return .failure(error)
        }
    }

    private static func decodeEntry(_ value: JSONValue) -> Result<GCEntry, JSONError> {
        guard case let .object(members) = value else { return .failure(JSONError("not an object")) }
        var seen: Set<String> = []
        for (k, _) in members where knownKeys.contains(k) {
            guard seen.insert(k).inserted else { return .failure(JSONError("key \(k) repeated")) }
        }
        guard let id = value["id"]?.stringValue, !id.isEmpty else { return .failure(JSONError("no id")) }
        guard (try? Validate.containerID(id)) != nil else { return .failure(JSONError("invalid id")) }
        guard let runtime = value["runtime"]?.stringValue else { return .failure(JSONError("\(id): no runtime")) }
        guard (try? Validate.runtimeName(runtime)) != nil else {
            return .failure(JSONError("\(id): invalid runtime"))
        }
        // Missing numbers are 0 (iSulad omits zero values); present ones must fit.
        func number<T: FixedWidthInteger>(_ key: String) -> T? {
            guard let v = value[key] else { return 0 }
            return v.uint64Value.flatMap { T(exactly: $0) }
        }
        guard let pid: Int32 = number("pid"), let ppid: Int32 = number("ppid"),
              let start: UInt64 = number("StartTime"), let pstart: UInt64 = number("PStartTime"),
              let attempts: Int32 = number(attemptsKey)
        else { return .failure(JSONError("\(id): a number out of range")) }
        let info = PidInfo(pid: pid, ppid: ppid, startTime: start, pstartTime: pstart)
        var resources: [TrackedResource] = []
        if let list = value[resourcesKey] {
            guard case let .array(items) = list else { return .failure(JSONError("\(id): resources not an array")) }
            for item in items {
                guard let kindName = item["kind"]?.stringValue, let kind = ResourceKind(name: kindName),
                      let v = item["value"]?.stringValue, (try? TrackedResource.validate(kind: kind, value: v)) != nil
                else { return .failure(JSONError("\(id): invalid resource")) }
                let busy = item["busy"].map { $0.uint64Value.flatMap { Int32(exactly: $0) } } ?? 0
                guard let busy else { return .failure(JSONError("\(id): invalid resource busy count")) }
                resources.append(TrackedResource(kind: kind, value: v, busyCount: Int(busy)))
            }
        }
        var entry = GCEntry(id: id, runtime: runtime, info: info, resources: resources)
        entry.attempts = Int(attempts)
        switch value[engineReleasedKey] {
        case nil: break
        case let .bool(b)?: entry.engineReleased = b
        default: return .failure(JSONError("\(id): \(engineReleasedKey) not a boolean"))
        }
        switch value[lastErrorKey] {
        case nil, .null?: break
        case let .string(e)?: entry.lastError = e
        default: return .failure(JSONError("\(id): \(lastErrorKey) not a string"))
        }
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

    /// The whole file from already-encoded entries, in order, then the
    /// refused entries as they were read.
    static func document(entries: [[UInt8]], refusedEntries: [JSONValue] = [],
                         unknownTopKeys: [(String, JSONValue)]) -> [UInt8] {
        var out = beginDocument(capacity: entries.reduce(32) { $0 + $1.count + 1 })
        for e in entries { appendEntry(e, to: &out) }
        endDocument(&out, refusedEntries: refusedEntries, unknownTopKeys: unknownTopKeys)
        return out
    }

    /// Pieces of `document`, for writing the list without an array of copies.
    static func beginDocument(capacity: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(capacity)
        out.append(contentsOf: "{\"\(listKey)\":[".utf8)
        return out
    }

    static func appendEntry<C: Collection<UInt8>>(_ encoded: C, to out: inout [UInt8]) {
        if out.last != UInt8(ascii: "[") { out.append(UInt8(ascii: ",")) }
        out.append(contentsOf: encoded)
    }

    static func endDocument(_ out: inout [UInt8], refusedEntries: [JSONValue], unknownTopKeys: [(String, JSONValue)]) {
        for e in refusedEntries { appendEntry(JSON.serialize(e), to: &out) }
        out.append(UInt8(ascii: "]"))
        for (k, v) in unknownTopKeys {
            out.append(UInt8(ascii: ","))
            out.append(contentsOf: JSON.serialize(.string(k)))
            out.append(UInt8(ascii: ":"))
            out.append(contentsOf: JSON.serialize(v))
        }
        out.append(UInt8(ascii: "}"))
    }
}
