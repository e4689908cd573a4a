import Cleaner
import Glibc
import Platform
import SystemPackage
import Testing
@testable import SupervisorCore

@Suite struct GCStoreTests {
    private func entry(_ id: String) -> GCEntry {
        GCEntry(id: id, runtime: "runc", info: PidInfo(pid: 10, ppid: 9, startTime: 100, pstartTime: 90), resources: [])
    }

    @Test func anInsertIsOnDiskOnceDurable() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try GCStore(rootDir: dir.path)
        try store.lock.withLock { () throws(Errno) in
            let g = store.insertLocked(entry("c1"))
            try store.waitDurableLocked(g)
        }
        let doc = try GCFileFormat.decode(try #require(dir.read("garbage.json")))
        #expect(doc.entries.map(\.id) == ["c1"])
        var st = stat()
        stat(dir.path + "/garbage.json", &st)
        #expect(st.st_mode & 0o777 == 0o600)
        try store.lock.withLock { () throws(Errno) in
            let g = store.removeLocked("c1")
            try store.waitDurableLocked(g)
        }
        #expect(try GCFileFormat.decode(try #require(dir.read("garbage.json"))).entries.isEmpty)
        try store.close()
    }

    @Test func concurrentInsertsShareWrites() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try GCStore(rootDir: dir.path)
        let threads = try (0..<8).map { t in
            try NativeThread.start(name: "t\(t)") {
                for i in 0..<25 {
                    try? store.lock.withLock { () throws(Errno) in
                        let g = store.insertLocked(GCEntry(id: "c\(t)-\(i)", runtime: "runc",
                                                           info: PidInfo(pid: 1, ppid: 0, startTime: 0, pstartTime: 0), resources: []))
                        try store.waitDurableLocked(g)
                    }
                }
            }
        }
        for t in threads { t.join() }
        try store.close()
        let doc = try GCFileFormat.decode(try #require(dir.read("garbage.json")))
        #expect(doc.entries.count == 200)
    }

    @Test func aDamagedFileIsKeptAsideAndTheStoreStarts() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        dir.write("garbage.json", "{\"GcContainers\":[{\"id\":")
        let store = try GCStore(rootDir: dir.path)
        #expect(store.lock.withLock { store.entries.isEmpty })
        try store.close()
        #expect(dir.list().contains { $0.hasPrefix("garbage.json.corrupt-") })
    }

    @Test func aFIFONamedGarbageJSONDoesNotHangTheStart() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        #expect(mkfifo(dir.path + "/garbage.json", 0o600) == 0)
        let store = try GCStore(rootDir: dir.path)
        try store.close()
        #expect(dir.list().contains { $0.hasPrefix("garbage.json.corrupt-") })
    }

    @Test func restoreDoesNotBringBackARemovalInFlight() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try GCStore(rootDir: dir.path)
        try store.lock.withLock { () throws(Errno) in
            try store.waitDurableLocked(store.insertLocked(entry("gone")))
            // Removed in memory; whether or not the write has happened yet,
            // a restore must not re-add it.
            store.removeLocked("gone")
        }
        let added = try store.mergeFromDisk()
        #expect(added.isEmpty)
        #expect(store.lock.withLock { store.entries["gone"] == nil })
        try store.close()
    }

    @Test func restoresEntriesAndKeepsUnknownKeys() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        dir.write("garbage.json", "{\"GcContainers\":[{\"id\":\"old\",\"runtime\":\"runc\",\"pid\":4,\"Extra\":true}],\"Top\":[1]}")
        let store = try GCStore(rootDir: dir.path)
        #expect(store.lock.withLock { store.entries["old"]?.info.pid } == 4)
        try store.lock.withLock { () throws(Errno) in
            let g = store.insertLocked(entry("new"))
            try store.waitDurableLocked(g)
        }
        try store.close()
        let text = String(decoding: try #require(dir.read("garbage.json")), as: UTF8.self)
        #expect(text.contains("\"Extra\":true"))
        #expect(text.contains("\"Top\":[1]"))
        #expect(text.contains("\"new\""))
    }
}
