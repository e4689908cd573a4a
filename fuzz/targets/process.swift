// libFuzzer target: the shim's process.json reader (shim/ProcessState.swift
// and shim/Platform/JSON.swift, compiled here as full Swift with CShim):
// the nesting pre-scan, yajl, then the field-by-field type and length
// checks. Accepted files must satisfy the invariants the shim relies on.
import CShim

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProcessJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = (data != nil && size > 0) ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    // ProcessState.load refuses larger files (FDIO.readAll limit).
    guard bytes.count <= ProcessState.maxFileSize else { return 0 }
    let doc: JSONValue
    do throws(JSONError) { doc = try JSON.parse(bytes) } catch { return 0 }
    // Whatever yajl built, the pre-scan bounded it first.
    guard JSON.nestingDepth(bytes) <= JSON.maxDepth else { fatalError("accepted a document nested too deep") }
    let state: ProcessState
    do throws(ShimError) { state = try ProcessState(doc) } catch { return 0 }
    for p in [state.exitFifo, state.isuladStdin, state.isuladStdout, state.isuladStderr, state.logPath,
              state.attachSocket, state.resizeFifo] {
        if let p, p.isEmpty || p.utf8.count >= Int(PATH_MAX) || p.utf8.contains(0) {
            fatalError("accepted a bad path field")
        }
    }
    if let r = state.runtime, r.utf8.contains(UInt8(ascii: "/")) { fatalError("accepted a runtime path") }
    guard (1...1000).contains(state.logMaxfile), state.logMaxsize >= 0 else { fatalError("accepted bad log limits") }
    return 0
}
