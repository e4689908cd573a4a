import Cleaner
import Platform
import Testing
@testable import SupervisorCore

@Suite struct GCFileFormatTests {
    @Test func readsWhatISuladWrites() throws {
        // iSulad omits zero-valued keys and writes an empty list as {}.
        #expect(try GCFileFormat.decode(Array("{}".utf8)).entries.isEmpty)
        #expect(try GCFileFormat.decode(Array("{\"GcContainers\":{}}".utf8)).entries.isEmpty)
        #expect(try GCFileFormat.decode(Array("{\"GcContainers\":null}".utf8)).entries.isEmpty)
        let doc = try GCFileFormat.decode(Array("""
            {"GcContainers":[{"id":"c1","runtime":"lcr","pid":12,"StartTime":345},{"id":"c2"}],"Other":1}
            """.utf8))
        #expect(doc.entries.map(\.id) == ["c1", "c2"])
        #expect(doc.entries[0].info == PidInfo(pid: 12, ppid: 0, startTime: 345, pstartTime: 0))
        #expect(doc.entries[1].runtime == "")
        #expect(doc.unknownTopKeys.map(\.0) == ["Other"])
    }

    @Test func skipsEntriesWithoutAnID() throws {
        let doc = try GCFileFormat.decode(Array("""
            {"GcContainers":[{"runtime":"runc","pid":3},{"id":""},{"id":"../x"},{"id":"ok"}, 7]}
            """.utf8))
        #expect(doc.entries.map(\.id) == ["ok"])
        #expect(doc.rejected.count == 4)
    }

    @Test(arguments: ["", "nope", "[]", "{\"GcContainers\":3}", "{\"GcContainers\":[", "\u{0}"])
    func damagedDocumentsThrow(text: String) {
        #expect(throws: JSONError.self) { try GCFileFormat.decode(Array(text.utf8)) }
    }

    @Test func writesEveryISuladKeyAndKeepsUnknownOnes() throws {
        let doc = try GCFileFormat.decode(Array("""
            {"GcContainers":[{"id":"c1","pid":5,"Future":{"a":[1,2]}}],"Top":"kept"}
            """.utf8))
        var entry = doc.entries[0]
        entry.resources = [TrackedResource(kind: .mount, value: "/m", busyCount: 2)]
        entry.attempts = 3
        let bytes = GCFileFormat.document(entries: [GCFileFormat.encode(entry)], unknownTopKeys: doc.unknownTopKeys)
        let back = try JSON.parse(bytes)
        let written = try #require(back["GcContainers"].flatMap { v -> JSONValue? in
            if case let .array(items) = v { return items.first }
            return nil
        })
        for key in ["id", "runtime", "pid", "StartTime", "ppid", "PStartTime"] {
            #expect(written[key] != nil, "missing \(key)")
        }
        #expect(written["Future"] == .object([("a", .array([.int(1), .int(2)]))]))
        #expect(back["Top"] == .string("kept"))
        let again = try GCFileFormat.decode(bytes)
        #expect(again.entries[0].resources == entry.resources)
        #expect(again.entries[0].attempts == 3)
    }

    @Test func startTimesAboveInt64SurviveAsNumbers() throws {
        var entry = GCEntry(id: "big", runtime: "runc", info: PidInfo(pid: 1, ppid: 2, startTime: UInt64.max, pstartTime: 7),
                            resources: [])
        entry.attempts = 0
        let text = String(decoding: GCFileFormat.encode(entry), as: UTF8.self)
        #expect(text.contains("\"StartTime\":18446744073709551615"))
    }
}
