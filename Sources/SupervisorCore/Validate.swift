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

    /// The one check of runtime names, for the API (add_exit_monitor,
    /// gc_add_container) and for entries restored from garbage.json. A
    /// runtime becomes argv[0] of `<runtime> ... delete`, so it is either
    ///   - a bare name without '/' (found through PATH), not "." or "..", or
    ///   - an absolute path with no "." or ".." component and not ending in '/';
    /// never a relative path with a slash ("bin/runc", "./runc", "c/../x"),
    /// which would run relative to the engine's working directory. No control
    /// characters; not empty; shorter than PATH_MAX. EINVAL / ENAMETOOLONG.
    public static func runtimeName(_ runtime: String) throws(Errno) {
        let bytes = runtime.utf8
        guard !bytes.isEmpty else { throw Errno.invalidArgument }
        guard bytes.count < pathMax else { throw Errno.fileNameTooLong }
        guard !bytes.contains(where: { $0 < 0x20 || $0 == 0x7f }) else { throw Errno.invalidArgument }
        let slash = UInt8(ascii: "/")
        guard bytes.contains(slash) else {
            guard runtime != ".", runtime != ".." else { throw Errno.invalidArgument }
            return
        }
        guard bytes.first == slash, bytes.last != slash else { throw Errno.invalidArgument }
        let dots = bytes.split(separator: slash).contains { $0.elementsEqual(".".utf8) || $0.elementsEqual("..".utf8) }
        guard !dots else { throw Errno.invalidArgument }
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
