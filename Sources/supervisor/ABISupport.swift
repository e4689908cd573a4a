import Diagnostics
import CSupervisor
import Glibc
import Platform
import SupervisorCore
import SystemPackage

/// Conversions and error reporting shared by the @_cdecl functions: they
/// validate, convert, call the engine, and turn a thrown error into
/// `-1` + errno + one log line:
///
///     new_gchandler: mkdir /var/lib/isulad: Permission denied
///     supervisor_track_resource: invalid argument (relative/m): Invalid argument
enum ABI {
    /// Sets errno, logs one line, returns -1. A refused argument (no call
    /// behind it) names the argument in `detail`.
    static func fail(_ function: String, _ err: Errno, _ detail: String = "") -> Int32 {
        fail(function, SystemError(err), detail)
    }

    /// The failed call's line: "function: operation path: strerror".
    static func fail(_ function: String, _ error: SystemError, _ detail: String = "") -> Int32 {
        let err = error.errno
        if !error.operation.isEmpty || error.path != nil {
            Log.direct(.error, "\(function): \(clip(error.description, 400))")
        } else if err == .invalidArgument || err == .fileNameTooLong {
            let suffix = detail.isEmpty ? "" : " (\(clip(detail, 200)))"
            Log.direct(.warning, "\(function): invalid argument\(suffix): \(err)")
        } else {
            let what = detail.isEmpty ? "" : clip(detail, 200) + ": "
            Log.direct(.error, "\(function): \(what)\(err)")
        }
        Glibc.errno = err.rawValue
        return -1
    }

    static func failNull<T>(_ function: String, _ err: Errno, _ detail: String = "") -> UnsafeMutablePointer<T>? {
        _ = fail(function, err, detail)
        return nil
    }

    static func failNull<T>(_ function: String, _ error: SystemError, _ detail: String = "") -> UnsafeMutablePointer<T>? {
        _ = fail(function, error, detail)
        return nil
    }

    /// Arguments can be PATH_MAX long; one log line stays readable.
    private static func clip(_ s: String, _ limit: Int) -> String {
        s.utf8.count > limit ? String(s.prefix(limit)) + "…" : s
    }

    /// A C string argument: not NULL, not empty, shorter than PATH_MAX.
    static func string(_ p: UnsafePointer<CChar>?) throws(Errno) -> String {
        guard let p else { throw Errno.invalidArgument }
        let length = strnlen(p, Int(PATH_MAX))
        guard length > 0 else { throw Errno.invalidArgument }
        guard length < Int(PATH_MAX) else { throw Errno.fileNameTooLong }
        // Not UTF-8: String(cString:) would repair it, and two different
        // byte strings would become one id.
        guard let s = String(validatingCString: p) else { throw Errno.invalidArgument }
        return s
    }

    static func containerID(_ p: UnsafePointer<CChar>?) throws(Errno) -> String {
        let id = try string(p)
        try Validate.containerID(id)
        return id
    }

    static func runtime(_ p: UnsafePointer<CChar>?) throws(Errno) -> String {
        let runtime = try string(p)
        try Validate.runtimeName(runtime)
        return runtime
    }

    static func pidInfo(_ p: UnsafePointer<pid_ppid_info_t>?) throws(Errno) -> PidInfo {
        guard let p else { throw Errno.invalidArgument }
        let v = p.pointee
        // pid 0: not known (treated as gone); negative values are nonsense.
        guard v.pid >= 0, v.ppid >= 0 else { throw Errno.invalidArgument }
        return PidInfo(pid: v.pid, ppid: v.ppid, startTime: v.start_time, pstartTime: v.pstart_time)
    }

    /// A malloc()ed copy for the caller to free().
    static func mallocString(_ s: String) -> UnsafeMutablePointer<CChar>? {
        strdup(s)
    }

    static func mallocBytes(_ bytes: [UInt8]) -> UnsafeMutablePointer<CChar>? {
        guard let out = malloc(bytes.count + 1)?.assumingMemoryBound(to: CChar.self) else { return nil }
        bytes.withUnsafeBytes { raw in
            if let base = raw.baseAddress { memcpy(out, base, bytes.count) }
        }
        out[bytes.count] = 0
        return out
    }
}
