// libFuzzer target: the shim's process.json reader (shim/ProcessState.swift):
// JSON.parse then the field-by-field type and length checks. Accepted files
// must satisfy the invariants the shim relies on later.
import Glibc
import Platform

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProcessJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = (data != nil && size > 0) ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    // ProcessState.load refuses larger files (FileIO.readAll limit).
    guard bytes.count <= ProcessState.maxFileSize else { return 0 }
    guard let doc = try? JSON.parse(bytes) else { return 0 }
    let state: ProcessState
    do throws(ShimError) { state = try ProcessState(doc) } catch { return 0 }
    for p in [state.exitFifo, state.isuladStdin, state.isuladStdout, state.isuladStderr, state.logPath,
              state.attachSocket, state.resizeFifo] {
        if let p, p.isEmpty || p.utf8.count >= Int(PATH_MAX) || p.utf8.contains(0) {
            fatalError("accepted a bad path field")
        }
    }
    if let r = state.runtime, r.contains("/") { fatalError("accepted a runtime path") }
    guard (1...1000).contains(state.logMaxfile), state.logMaxsize >= 0 else { fatalError("accepted bad log limits") }
    // Re-serialising what was parsed must parse again (the shim passes the
    // file on to runc for exec).
    guard (try? JSON.parse(JSON.serialize(doc))) != nil else { fatalError("serialised document does not parse") }
    return 0
}
