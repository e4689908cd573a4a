import CPlatform
import Glibc
import Platform
import Testing

@Suite struct StatusAccumulatorTests {
    private func pipePair() -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        _ = cp_pipe2(&fds, O_CLOEXEC | O_NONBLOCK)
        return (fds[0], fds[1])
    }

    private func send(_ fd: Int32, _ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    @Test func assemblesAStatusFromPartialWrites() {
        let (r, w) = pipePair()
        defer { close(r) }
        var acc = StatusAccumulator()
        let value: Int32 = 0x0102_0304
        let bytes = withUnsafeBytes(of: value) { Array($0) }
        #expect(acc.read(from: r) == .pending)
        send(w, Array(bytes[0..<1]))
        #expect(acc.read(from: r) == .pending)
        send(w, Array(bytes[1..<3]))
        #expect(acc.read(from: r) == .pending)
        send(w, Array(bytes[3..<4]))
        #expect(acc.read(from: r) == .status(value))
        close(w)
    }

    @Test func endOfFileBeforeFourBytesIsUnknown() {
        let (r, w) = pipePair()
        defer { close(r) }
        var acc = StatusAccumulator()
        send(w, [1, 0])
        close(w)
        #expect(acc.read(from: r) == .endOfFile)
    }

    @Test func readsNoMoreThanFourBytes() {
        let (r, w) = pipePair()
        defer { close(r); close(w) }
        var acc = StatusAccumulator()
        send(w, [7, 0, 0, 0, 9, 9])
        #expect(acc.read(from: r) == .status(7))
        var rest = [UInt8](repeating: 0, count: 8)
        #expect(rest.withUnsafeMutableBytes { read(r, $0.baseAddress, 8) } == 2)
    }
}
