import CPlatform
import Glibc
import SystemPackage

/// One line of /proc/<pid>/mountinfo (proc(5)), with the octal escapes of
/// paths (`\040` for a space, ...) decoded.
public struct MountEntry: Sendable, Equatable {
    public var mountID: Int
    public var parentID: Int
    public var major: UInt32
    public var minor: UInt32
    /// The directory of the filesystem that forms the root of this mount.
    public var root: String
    /// Where it is mounted, relative to the reader's root.
    public var mountPoint: String
    public var mountOptions: String
    public var optionalFields: [String]
    public var fsType: String
    public var source: String
    public var superOptions: String
}

public enum MountInfo {
    /// Reads and parses the mount table of this process.
    public static func read(_ path: String = "/proc/self/mountinfo") throws(SystemError) -> [MountEntry] {
        parse(String(decoding: try KernelFile.read(path, limit: 64 << 20), as: UTF8.self))
    }

    /// Parses mountinfo text; malformed lines are skipped, never fatal.
    public static func parse(_ text: String) -> [MountEntry] {
        var entries: [MountEntry] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if let e = parseLine(line) { entries.append(e) }
        }
        return entries
    }

    static func parseLine(_ line: Substring) -> MountEntry? {
        let f = line.split(separator: " ", omittingEmptySubsequences: true)
        guard f.count >= 10, let sep = f[6...].firstIndex(of: "-"), f.count >= sep + 3 else { return nil }
        guard let id = Int(f[0]), let parent = Int(f[1]) else { return nil }
        let dev = f[2].split(separator: ":")
        guard dev.count == 2, let major = UInt32(dev[0]), let minor = UInt32(dev[1]) else { return nil }
        return MountEntry(
            mountID: id, parentID: parent, major: major, minor: minor,
            root: unescape(f[3]), mountPoint: unescape(f[4]), mountOptions: String(f[5]),
            optionalFields: f[6..<sep].map(String.init), fsType: unescape(f[sep + 1]),
            source: unescape(f[sep + 2]), superOptions: sep + 3 < f.count ? String(f[sep + 3]) : "")
    }

    /// Decodes the kernel's `\ooo` escapes (space, tab, newline, backslash).
    public static func unescape(_ field: Substring) -> String {
        let bytes = Array(field.utf8)
        guard bytes.contains(UInt8(ascii: "\\")) else { return String(field) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 3 < bytes.count, let v = octal(bytes[(i + 1)...(i + 3)]) {
                out.append(v)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func octal(_ digits: ArraySlice<UInt8>) -> UInt8? {
        guard digits.count == 3 else { return nil }
        var v = 0
        for d in digits {
            guard d >= UInt8(ascii: "0"), d <= UInt8(ascii: "7") else { return nil }
            v = v * 8 + Int(d - UInt8(ascii: "0"))
        }
        return v <= 255 ? UInt8(v) : nil
    }

    /// The mount an open fd lives on (`mnt_id` in /proc/self/fdinfo), which
    /// tells a bind mount from its parent even on the same filesystem (same
    /// st_dev). nil when /proc is not available.
    public static func mountID(ofFD fd: Int32) -> Int? {
        guard let bytes = try? KernelFile.read("/proc/self/fdinfo/\(fd)", limit: 1 << 16) else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("mnt_id:") {
            return Int(line.dropFirst("mnt_id:".count).trimmingCharacters(in: " \t"))
        }
        return nil
    }

    /// `path` with duplicate slashes, `.` components and a trailing slash
    /// removed, the form mountinfo uses (it does not resolve symlinks).
    public static func lexicallyClean(_ path: String) -> String {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        return "/" + parts.joined(separator: "/")
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = self
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}
