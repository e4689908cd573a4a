// libFuzzer target: the garbage.json reader (GCFileFormat.decode, a streaming
// parse with bounded depth) and, for every document it accepts, the writer:
// what we write must read back to the same ids, keys and unknown keys, and
// the same refused entries (a rewrite never loses, invents or repairs one).
// Every entry's record also reads back through GCRecordScanner (the GC's fast
// path) to the same fields, and the scanner survives the raw input itself.
import Cleaner
import Platform

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGarbageJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = (data != nil && size > 0) ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    // GCStore refuses files above this size before parsing; mirror it.
    guard bytes.count <= GCFileFormat.maxFileSize else { return 0 }
    _ = bytes.withUnsafeBufferPointer { GCRecordScanner.decode($0) }
    guard let doc = try? GCFileFormat.decode(bytes) else { return 0 }
    for entry in doc.entries {
        let record = GCFileFormat.encode(entry)
        guard let scanned = record.withUnsafeBufferPointer({ GCRecordScanner.decode($0) }) else {
            // Only keys kept from the file make the scanner decline.
            guard !entry.unknownKeys.isEmpty else { fatalError("scanner declined a plain record of \(entry.id)") }
            continue
        }
        guard scanned.id == entry.id, scanned.runtime == entry.runtime, scanned.info == entry.info,
              scanned.attempts == entry.attempts, scanned.engineReleased == entry.engineReleased,
              scanned.lastError == entry.lastError, entry.unknownKeys.isEmpty,
              scanned.resources.map({ "\($0.kind.name)|\($0.value)|\($0.busyCount)" })
                == entry.resources.map({ "\($0.kind.name)|\($0.value)|\($0.busyCount)" })
        else { fatalError("scanner read entry \(entry.id) differently") }
    }
    let out = GCFileFormat.document(entries: doc.entries.map { GCFileFormat.encode($0) },
                                    refusedEntries: doc.refusedEntries, unknownTopKeys: doc.unknownTopKeys)
    let again: GCFileFormat.Document
    do { again = try GCFileFormat.decode(out) } catch {
        fatalError("rewritten garbage.json does not parse: \(error.description)")
    }
    // Refused entries stay refused (kept, never turned into valid ones).
    guard again.refusedEntries.count == doc.refusedEntries.count, again.rejected.count == doc.rejected.count else {
        fatalError("rewrite changed the refused entries: \(doc.rejected) -> \(again.rejected)")
    }
    guard again.entries.count == doc.entries.count else { fatalError("rewrite changed the entry count") }
    for (a, b) in zip(doc.entries, again.entries) {
        guard a.id == b.id, a.runtime == b.runtime, a.info == b.info, a.attempts == b.attempts,
              a.engineReleased == b.engineReleased, a.lastError == b.lastError,
              a.resources.count == b.resources.count,
              a.unknownKeys.map({ $0.0 }) == b.unknownKeys.map({ $0.0 })
        else { fatalError("rewrite changed entry \(a.id)") }
    }
    guard again.unknownTopKeys.map({ $0.0 }) == doc.unknownTopKeys.map({ $0.0 }) else {
        fatalError("rewrite changed the top-level keys")
    }
    return 0
}
