import Cleaner
import Glibc
import Platform
import Synchronization
import Testing
@testable import SupervisorCore

/// The persister (bytes and generations) and the collector's file handling,
/// against a real directory.
@Suite struct GCPersisterTests {
    final class Bytes: @unchecked Sendable {
        let lock = ConditionLock()
        var text = "{}"
    }

    @Test func aGenerationIsDurableOnceItsBytesAreOnDisk() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let bytes = Bytes()
        let durable = Atomic<UInt64>(0)
        let p = GCPersister(file: try GCFile(rootDir: dir.path),
                                snapshot: { bytes.lock.withLock { Array(bytes.text.utf8) } },
                                onDurable: { durable.store($0, ordering: .relaxed) })
        let g = bytes.lock.withLock { () -> UInt64 in
            bytes.text = "{\"GcContainers\":[]}"
            return p.markDirty()
        }
        try p.waitDurable(g)
        #expect(dir.read("garbage.json").map { String(decoding: $0, as: UTF8.self) } == "{\"GcContainers\":[]}")
        #expect(durable.load(ordering: .relaxed) >= g)
        var st = stat()
        stat(dir.path + "/garbage.json", &st)
        #expect(st.st_mode & 0o777 == 0o600)
        try p.close()
    }

    /// Group commit: 8 threads × 25 durable changes share writes.
    @Test func concurrentChangesShareWrites() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let bytes = Bytes()
        let p = GCPersister(file: try GCFile(rootDir: dir.path),
                                snapshot: { bytes.lock.withLock { Array(bytes.text.utf8) } }, onDurable: { _ in })
        let threads = try (0..<8).map { t in
            try NativeThread.start(name: "t\(t)") {
                for _ in 0..<25 {
                    let g = p.markDirty()
                    try? p.waitDurable(g)
                }
            }
        }
        for t in threads { t.join() }
        let writes = p.writes
        try p.close()
        #expect(writes >= 1)
        #expect(writes < 200)
    }

    private func collector(_ dir: TempDir) throws -> GarbageCollector {
        try GarbageCollector(rootDir: dir.path, .init(
            submit: { _, _ in false }, config: { EngineConfig(options: Options(), hooks: Hooks()) },
            releaser: { config in ResourceRelease(cleaner: BuiltinCleaner(), config: config) },
            released: { _, _ in }))
    }

    @Test func aDamagedFileIsKeptAsideAndTheListStarts() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        dir.write("garbage.json", "{\"GcContainers\":[{\"id\":")
        let gc = try collector(dir)
        #expect(gc.snapshot().isEmpty)
        try gc.close()
        #expect(dir.list().contains { $0.hasPrefix("garbage.json.corrupt-") })
    }

    @Test func aFIFONamedGarbageJSONDoesNotHangTheStart() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        #expect(mkfifo(dir.path + "/garbage.json", 0o600) == 0)
        let gc = try collector(dir)
        try gc.close()
        #expect(dir.list().contains { $0.hasPrefix("garbage.json.corrupt-") })
    }

    @Test func restoresEntriesAndKeepsUnknownKeys() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        dir.write("garbage.json", "{\"GcContainers\":[{\"id\":\"old\",\"runtime\":\"runc\",\"pid\":4,\"Extra\":true}],\"Top\":[1]}")
        let gc = try collector(dir)
        #expect(gc.snapshot().first?.entry.info.pid == 4)
        try gc.add(id: "new", runtime: "runc", info: PidInfo(pid: 10, ppid: 9, startTime: 100, pstartTime: 90), resources: [])
        try gc.close()
        let text = String(decoding: try #require(dir.read("garbage.json")), as: UTF8.self)
        #expect(text.contains("\"Extra\":true"))
        #expect(text.contains("\"Top\":[1]"))
        #expect(text.contains("\"new\""))
    }
}
