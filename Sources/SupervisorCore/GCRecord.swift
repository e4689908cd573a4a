import Cleaner
import Platform

/// Where the id sits inside a record's JSON.
struct GCRecordHeader {
    let jsonLength: UInt32
    let idStart: UInt32
    let idLength: UInt32
}

/// One GC entry in memory, in a single allocation: its garbage.json object
/// (`{"id":…}` exactly as written to the file) and nothing else. The
/// persisted fields exist once, as these bytes: a rewrite of the file
/// concatenates records, and the fields are decoded only when an attempt or
/// a status report needs them. Immutable: a change makes a new record.
final class GCRecord: ManagedBuffer<GCRecordHeader, UInt8> {
    private static let prefix = Array("{\"id\":\"".utf8)

    static func make(_ entry: GCEntry) -> GCRecord {
        let json = GCFileFormat.encode(entry)
        let id = escapedID(entry.id)
        // The encoder writes the id first; the record points at it there.
        precondition(json.starts(with: prefix + id), "GC entry encoding does not start with its id")
        let record = unsafeDowncast(GCRecord.create(minimumCapacity: json.count) { _ in
            GCRecordHeader(jsonLength: UInt32(json.count), idStart: UInt32(prefix.count), idLength: UInt32(id.count))
        }, to: GCRecord.self)
        record.withUnsafeMutablePointerToElements { p in
            json.withUnsafeBufferPointer { p.initialize(from: $0.baseAddress!, count: $0.count) }
        }
        return record
    }

    /// The id as JSON writes it inside quotes: ids are validated (no control
    /// characters), so only `"` and `\` are escaped, as yajl does.
    static func escapedID(_ id: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(id.utf8.count)
        for b in id.utf8 {
            if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
            out.append(b)
        }
        return out
    }

    /// The record's JSON object.
    func withJSON<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        withUnsafeMutablePointers { h, e in body(UnsafeBufferPointer(start: e, count: Int(h.pointee.jsonLength))) }
    }

    /// The id's bytes as escaped in the JSON.
    func withEscapedID<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        withUnsafeMutablePointers { h, e in
            body(UnsafeBufferPointer(start: e + Int(h.pointee.idStart), count: Int(h.pointee.idLength)))
        }
    }

    /// The id alone, unescaped (only `"` and `\` are escaped: escapedID).
    var id: String {
        withEscapedID { bytes in
            guard bytes.contains(UInt8(ascii: "\\")) else { return String(decoding: bytes, as: UTF8.self) }
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count)
            var escaped = false
            for b in bytes {
                if !escaped && b == UInt8(ascii: "\\") { escaped = true; continue }
                escaped = false
                out.append(b)
            }
            return String(decoding: out, as: UTF8.self)
        }
    }

    /// The decoded entry (its fields as garbage.json holds them).
    var entry: GCEntry {
        if let entry = withJSON({ GCRecordScanner.decode($0) }) { return entry }
        let bytes = withJSON { Array($0) }
        switch GCFileFormat.decodeEntry(bytes) {
        case let .success(entry): return entry
        case let .failure(error): fatalError("a GC record does not decode: \(error.description)")
        }
    }
}
