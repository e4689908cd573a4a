// libFuzzer target: the exit record reader (exit.json, ExitRecord.parse).
// An accepted record is in range, and what the shim writes reads back equal.
import Platform

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzExitRecord(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = (data != nil && size > 0) ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    // ExitRecord.read refuses files above maxSize before parsing.
    guard bytes.count <= ExitRecord.maxSize else { return 0 }
    guard let record = ExitRecord.parse(bytes) else { return 0 }
    guard (0...255).contains(record.exitCode), (0...64).contains(record.signal), record.pid >= 0,
          record.signal == 0 || record.exitCode == 128 + record.signal
    else { fatalError("accepted an out-of-range record") }
    guard ExitRecord.parse(record.serialized()) == record else { fatalError("record does not round-trip") }
    return 0
}
