import Platform
import Testing

@Suite struct OOMCounterTests {
    @Test func parsesTheOOMKillLine() {
        #expect(OOMCounter.parse(Array("low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\noom_group_kill 0\n".utf8)) == 2)
        #expect(OOMCounter.parse(Array("oom_kill_disable 0\nunder_oom 0\noom_kill 17".utf8)) == 17)
        #expect(OOMCounter.parse(Array("oom_kill_disable 0\nunder_oom 0\n".utf8)) == nil)
        #expect(OOMCounter.parse(Array("oom_kill \n".utf8)) == nil)
        #expect(OOMCounter.parse(Array("oom_kill 12x\n".utf8)) == nil)
        #expect(OOMCounter.parse(Array("oom_kill 99999999999999999999\n".utf8)) == nil)
        #expect(OOMCounter.parse([]) == nil)
    }

    @Test func readsAStandInEventsFile() throws {
        let dir = TempDir("oom")
        try AtomicFile.write(Array("oom 1\noom_kill 4\n".utf8), directory: dir.path, name: "memory.events")
        #expect(try OOMCounter.read(.v2(events: dir.sub("memory.events"))) == 4)
        #expect(throws: SystemError.self) { _ = try OOMCounter.read(.v2(events: dir.sub("missing"))) }
    }
}
