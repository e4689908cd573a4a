import Cleaner
import Platform
import Testing
@testable import SupervisorCore

/// The fast reader of GC records agrees with the general JSON decoder on
/// every record the encoder writes, and declines what it does not know.
@Suite struct GCRecordScannerTests {
    private func general(_ bytes: [UInt8]) -> GCEntry? {
        if case let .success(entry) = GCFileFormat.decodeEntry(bytes) { return entry }
        return nil
    }

    private func scanned(_ bytes: [UInt8]) -> GCEntry? {
        bytes.withUnsafeBufferPointer { GCRecordScanner.decode($0) }
    }

    private func same(_ a: GCEntry, _ b: GCEntry) -> Bool {
        a.id == b.id && a.runtime == b.runtime && a.info == b.info && a.attempts == b.attempts
            && a.engineReleased == b.engineReleased && a.lastError == b.lastError && a.unknownKeys.isEmpty
            && a.resources.map { "\($0.kind.name)|\($0.value)|\($0.busyCount)" }
                == b.resources.map { "\($0.kind.name)|\($0.value)|\($0.busyCount)" }
    }

    @Test func agreesWithTheGeneralDecoderOnRandomEntries() {
        var rng = SystemRandomNumberGenerator()
        let pieces = ["a", "b0", "\"", "\\", "/", "é", "日本", "😀", " ", "-", "_"]
        let errorPieces = pieces + ["\n", "\t", "\r", "\u{1}", "\u{7f}", "\u{8}", "\u{c}"]
        func text(_ from: [String], _ n: Int) -> String { (0..<n).map { _ in from.randomElement(using: &rng)! }.joined() }
        for _ in 0..<2_000 {
            // Valid entries only (the API refuses the rest): ids without "..",
            // CGROUP values relative, others absolute.
            var entry = GCEntry(id: "c" + text(["a", "b", "1", "-", "_", "\"", "\\", "é"], Int.random(in: 0..<64, using: &rng)),
                                runtime: Bool.random(using: &rng) ? "runc" : "kata-runtime",
                                info: PidInfo(pid: Int32.random(in: 0...Int32.max, using: &rng),
                                              ppid: Int32.random(in: 0...Int32.max, using: &rng),
                                              startTime: UInt64.random(in: 0...UInt64.max, using: &rng),
                                              pstartTime: UInt64.random(in: 0...9, using: &rng)),
                                resources: (0..<Int.random(in: 0..<4, using: &rng)).map { _ in
                                    let kind = [ResourceKind.mount, .path, .cgroup].randomElement(using: &rng)!
                                    let value = (kind == .cgroup ? "x" : "/x") + text(pieces, Int.random(in: 1..<12, using: &rng))
                                    return TrackedResource(kind: kind, value: value, busyCount: Int.random(in: 0..<5, using: &rng))
                                })
            entry.attempts = Int.random(in: 0..<3, using: &rng)
            entry.engineReleased = Bool.random(using: &rng)
            if Bool.random(using: &rng) { entry.lastError = text(errorPieces, Int.random(in: 0..<20, using: &rng)) }
            let bytes = GCFileFormat.encode(entry)
            guard let fast = scanned(bytes), let slow = general(bytes) else {
                Issue.record("not decoded (fast \(scanned(bytes) != nil), general \(general(bytes) != nil)): \(String(decoding: bytes, as: UTF8.self))")
                continue
            }
            #expect(same(fast, slow), "\(String(decoding: bytes, as: UTF8.self))")
            #expect(fast.id == entry.id && fast.lastError == entry.lastError)
        }
    }

    @Test func declinesWhatTheEncoderDoesNotWrite() {
        var entry = GCEntry(id: "c1", runtime: "runc", info: PidInfo(pid: 1, ppid: 2, startTime: 3, pstartTime: 4), resources: [])
        entry.unknownKeys = [("extra", .int(1))]
        let kept = GCFileFormat.encode(entry)
        #expect(scanned(kept) == nil)                        // the general decoder keeps the key
        #expect(general(kept)?.unknownKeys.map(\.0) == ["extra"])
        for text in ["", "{}", "{\"id\":\"c1\"}", "{\"id\":\"c1\",\"runtime\":\"runc\",\"pid\":1,\"StartTime\":3,\"ppid\":2,\"PStartTime\":4} ",
                     "{\"id\":\"c1\",\"runtime\":\"runc\",\"pid\":99999999999,\"StartTime\":3,\"ppid\":2,\"PStartTime\":4}",
                     "{\"id\":\"c1\",\"runtime\":\"runc\",\"pid\":1,\"StartTime\":-3,\"ppid\":2,\"PStartTime\":4}",
                     "{\"id\":\"c\\ud800\",\"runtime\":\"runc\",\"pid\":1,\"StartTime\":3,\"ppid\":2,\"PStartTime\":4}",
                     "{\"id\":\"c1\",\"runtime\":\"runc\",\"pid\":1,\"StartTime\":3,\"ppid\":2,\"PStartTime\":4,\"supervisor_resources\":[{\"kind\":\"nope\",\"value\":\"/x\",\"busy\":0}]}"] {
            #expect(scanned(Array(text.utf8)) == nil, "\(text)")
        }
    }
}
