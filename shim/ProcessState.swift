import CShim

/// iSulad's `shim_client_process_state`: what the engine tells the shim in
/// `process.json`. The same file is runc's `--process` for exec, so OCI
/// process fields live beside ours and are passed through untouched.
struct ProcessState {
    var exitFifo: String?
    var exec = false
    var openStdin = false
    var openTTY = false
    var terminal = false
    var isuladStdin: String?
    var isuladStdout: String?
    var isuladStderr: String?
    var runtime: String?
    var runtimeArgs: [String] = []
    var logPath: String?
    var logMaxfile: Int = 1
    var logMaxsize: Int64 = 0
    var systemdCgroup = false
    var noPivotRoot = false
    var attachSocket: String?
    var resizeFifo: String?

    static let maxFileSize = 4 << 20

    /// Loads `process.json` from the working directory. Every known field is
    /// type-checked and every path length-checked before the shim creates
    /// anything, so a bad file leaves nothing behind.
    static func load(path: String = "process.json") throws(ShimError) -> ProcessState {
        let bytes: [UInt8]
        do throws(Errno) {
            let fd = try FD(open: path, O_RDONLY | O_NOFOLLOW)
            bytes = try fd.readAll(limit: maxFileSize)
        } catch {
            throw ShimError("cannot read \(path): \(error)")
        }
        let doc: JSONValue
        do throws(JSONError) { doc = try JSON.parse(bytes) } catch {
            throw ShimError("parse \(path) failed: \(error.message)")
        }
        return try ProcessState(doc)
    }

    init(_ doc: JSONValue) throws(ShimError) {
        guard case .object = doc else { throw ShimError("process.json: not a JSON object") }
        func string(_ key: String) throws(ShimError) -> String? {
            guard let v = doc[key], !v.isNull else { return nil }
            guard let s = v.stringValue else { throw ShimError("process.json: \(key) must be a string") }
            guard s.utf8.count < Int(PATH_MAX) else { throw ShimError("process.json: \(key) is PATH_MAX or longer") }
            return s.isEmpty ? nil : s
        }
        func bool(_ key: String) throws(ShimError) -> Bool {
            guard let v = doc[key], !v.isNull else { return false }
            guard let b = v.boolValue else { throw ShimError("process.json: \(key) must be a boolean") }
            return b
        }
        func int(_ key: String) throws(ShimError) -> Int64? {
            guard let v = doc[key], !v.isNull else { return nil }
            guard case .int(let i) = v else { throw ShimError("process.json: \(key) must be an integer") }
            return i
        }
        func strings(_ key: String) throws(ShimError) -> [String] {
            guard let v = doc[key], !v.isNull else { return [] }
            guard case .array(let items) = v else { throw ShimError("process.json: \(key) must be an array of strings") }
            var out: [String] = []
            for item in items {
                guard let s = item.stringValue else { throw ShimError("process.json: \(key) must be an array of strings") }
                out.append(s)
            }
            return out
        }
        exitFifo = try string("exit_fifo")
        exec = try bool("exec")
        openStdin = try bool("open_stdin")
        openTTY = try bool("open_tty")
        terminal = try bool("terminal")
        isuladStdin = try string("isuladStdin")
        isuladStdout = try string("isuladStdout")
        isuladStderr = try string("isuladStderr")
        runtime = try string("runtime")
        runtimeArgs = try strings("runtimeArgs")
        logPath = try string("logPath")
        if let n = try int("logMaxfile") {
            guard n >= 0, n <= 1000 else { throw ShimError("process.json: logMaxfile out of range") }
            logMaxfile = max(1, Int(n))
        }
        if let n = try int("logMaxsize") {
            guard n >= 0 else { throw ShimError("process.json: logMaxsize out of range") }
            logMaxsize = n
        }
        systemdCgroup = try bool("systemdCgroup")
        noPivotRoot = try bool("noPivotRoot")
        attachSocket = try string("attach_socket")
        resizeFifo = try string("resizeFifo")
        // OCI process fields runc will read for exec: checked for shape only.
        _ = try strings("args")
        _ = try strings("env")
        _ = try string("cwd")
        if let r = runtime {
            let b = r.utf8
            if b.contains(UInt8(ascii: "/")) || b.elementsEqual(".".utf8) || b.elementsEqual("..".utf8) {
                throw ShimError("process.json: runtime must be a name, not a path")
            }
        }
    }
}

struct ShimError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}
