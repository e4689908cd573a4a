import Diagnostics
import CPlatform
import CSupervisor
import Glibc
import Platform
import SupervisorCore
import SystemPackage

/// Conversions and error reporting shared by the @_cdecl functions: they
/// validate, convert, call the engine, and turn a thrown Errno into
/// `-1` + errno + one log line.
enum ABI {
    /// Sets errno, logs one line, returns -1.
    static func fail(_ function: String, _ err: Errno, _ detail: String = "") -> Int32 {
        // Arguments can be PATH_MAX long; one log line stays readable.
        let shown = detail.utf8.count > 200 ? String(detail.prefix(200)) + "…" : detail
        let suffix = shown.isEmpty ? "" : " (\(shown))"
        if err == .invalidArgument || err == .fileNameTooLong {
            Log.direct(.warning, "\(function): invalid argument\(suffix): \(err)")
        } else {
            Log.direct(.error, "\(function) failed\(suffix): \(err)")
        }
        cp_set_errno(err.rawValue)
        return -1
    }

    static func failNull<T>(_ function: String, _ err: Errno, _ detail: String = "") -> UnsafeMutablePointer<T>? {
        _ = fail(function, err, detail)
        return nil
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
