import Glibc
import SystemPackage

/// Argument checks shared by the ABI and the GC file reader.
public enum Validate {
    public static let pathMax = Int(PATH_MAX)

    /// Container ids name directories and runtime state: no '/', no "..",
    /// no control characters, not empty, shorter than PATH_MAX.
    public static func containerID(_ id: String) throws(Errno) {
        let bytes = id.utf8
        guard !bytes.isEmpty else { throw Errno.invalidArgument }
        guard bytes.count < pathMax else { throw Errno.fileNameTooLong }
        // "-x" would read as an option in `<runtime> delete --force <id>`;
        // "." names the directory itself.
        guard bytes.first != UInt8(ascii: "-"), id != "." else { throw Errno.invalidArgument }
        var previousDot = false
        for b in bytes {
            if b < 0x20 || b == 0x7f || b == UInt8(ascii: "/") { throw Errno.invalidArgument }
            let dot = b == UInt8(ascii: ".")
            if dot && previousDot { throw Errno.invalidArgument }
            previousDot = dot
        }
    }

    /// Runtime names become argv[0]: a bare name found through PATH or an
    /// absolute path; no control characters.
    public static func runtimeName(_ runtime: String) throws(Errno) {
        let bytes = runtime.utf8
        guard !bytes.isEmpty else { throw Errno.invalidArgument }
        guard bytes.count < pathMax else { throw Errno.fileNameTooLong }
        guard !bytes.contains(where: { $0 < 0x20 || $0 == 0x7f }) else { throw Errno.invalidArgument }
    }

    public static func path(_ path: String) throws(Errno) {
        let bytes = path.utf8
        guard !bytes.isEmpty else { throw Errno.invalidArgument }
        guard bytes.count < pathMax else { throw Errno.fileNameTooLong }
        guard !bytes.contains(where: { $0 < 0x20 }) else { throw Errno.invalidArgument }
    }

    public static func absolutePath(_ p: String) throws(Errno) {
        try path(p)
        guard p.utf8.first == UInt8(ascii: "/") else { throw Errno.invalidArgument }
    }
}
