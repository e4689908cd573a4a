import Glibc
import Platform

/// A fresh directory under /tmp, removed with its files on deinit.
final class TempDir {
    let path: String

    init(_ tag: String) {
        var template = Array("/tmp/platform-\(tag)-\(getpid())-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    deinit { _ = Spawn.runQuiet(["rm", "-rf", path]) }

    func sub(_ name: String) -> String { path + "/" + name }
}

extension Spawn {
    static func runQuiet(_ argv: [String]) -> Bool {
        (try? run(argv, timeoutMs: 10_000))?.status == .exited(0)
    }
}

/// Waits (poll) until `fd` is readable or `timeoutMs` passes.
func readable(_ fd: Int32, within timeoutMs: Int32) -> Bool {
    var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    return retryingEINTR { poll(&pfd, 1, timeoutMs) } == 1
}

func fileMode(_ path: String) -> mode_t? {
    var st = stat()
    return lstat(path, &st) == 0 ? st.st_mode & 0o7777 : nil
}

func names(in dir: String) -> [String] {
    guard let d = opendir(dir) else { return [] }
    defer { closedir(d) }
    var out: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name != "." && name != ".." { out.append(name) }
    }
    return out.sorted()
}
