// libFuzzer target: the exit-status reader (StatusAccumulator) on a real
// non-blocking pipe. The input's first byte chooses how the rest is split
// into writes; after each write the reader must say "pending" until four
// bytes arrived, then report exactly the first four bytes (native endian);
// EOF before four bytes is "endOfFile" (the supervisor's 137).
import CPlatform
import Glibc
import Platform

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzExitStatus(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let input = Array(UnsafeBufferPointer(start: data, count: min(size, 64)))
    let split = Int(input[0])
    let payload = Array(input.dropFirst())
    var fds: [Int32] = [-1, -1]
    guard cp_pipe2(&fds, O_NONBLOCK | O_CLOEXEC) == 0 else { return 0 }
    defer { close(fds[0]); if fds[1] >= 0 { close(fds[1]) } }
    var acc = StatusAccumulator()
    var sent = 0
    var result: StatusRead = .pending
    var i = 0
    while sent < payload.count {
        // Chunk sizes 1...4 taken from the bits of the first byte.
        let chunk = min(payload.count - sent, ((split >> ((i % 4) * 2)) & 3) + 1)
        let n = payload[sent..<(sent + chunk)].withUnsafeBytes { write(fds[1], $0.baseAddress, chunk) }
        guard n == chunk else { fatalError("pipe write failed") }
        sent += chunk
        i += 1
        result = acc.read(from: fds[0])
        if sent < 4 {
            guard result == .pending else { fatalError("status before four bytes: \(result)") }
        } else {
            break
        }
    }
    if sent < 4 {
        close(fds[1]); fds[1] = -1
        result = acc.read(from: fds[0])
        // A fork elsewhere in the fuzzer process can hold a copy of the
        // write end until its exec: then EOF comes a moment later.
        var tries = 0
        while result == .pending && tries < 100 {
            var pfd = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, 10)
            result = acc.read(from: fds[0])
            tries += 1
        }
        guard result == .endOfFile else { fatalError("short status not reported as EOF: \(result)") }
        return 0
    }
    var expected: Int32 = 0
    withUnsafeMutableBytes(of: &expected) { raw in for k in 0..<4 { raw[k] = payload[k] } }
    guard result == .status(expected) else { fatalError("status \(result), expected \(expected)") }
    return 0
}
