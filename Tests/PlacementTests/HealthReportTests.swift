import Foundation
import Testing
@testable import Placement

@Suite("health report")
struct HealthReportTests {
    var report: HealthReport {
        var report = HealthReport(processAlive: true, resources: ["runner/llama/0": .ok, "model-file": .degraded])
        report.record(error: "rank 1 timed out", at: 1_700_000_000_000)
        return report
    }

    @Test("round-trips through plain JSON, with string keys and the score written out")
    func json() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let data = try encoder.encode(report)
        #expect(try JSONDecoder().decode(HealthReport.self, from: data) == report)

        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(object.keys) == ["processAlive", "resources", "recentErrors", "score"])
        let resources = try #require(object["resources"] as? [String: String])
        #expect(resources == ["runner/llama/0": "ok", "model-file": "degraded"])
        let errors = try #require(object["recentErrors"] as? [[String: Any]])
        #expect(errors.first?["message"] as? String == "rank 1 timed out")
        #expect((object["score"] as? Double).map { abs($0 - report.score) < 1e-12 } == true)
    }

    @Test("the score comes from the facts, not from what the JSON says")
    func scoreIsDerivedOnDecode() throws {
        let json = #"{"processAlive": false, "resources": {}, "recentErrors": [], "score": 1}"#
        let decoded = try JSONDecoder().decode(HealthReport.self, from: Data(json.utf8))
        #expect(decoded.score == 0)
    }

    @Test("score: 0 when dead, 1 when all is well, less per failed resource and per error")
    func score() {
        #expect(HealthReport().score == 1)
        #expect(HealthReport(processAlive: false, resources: ["a": .ok]).score == 0)
        #expect(HealthReport(resources: ["a": .ok, "b": .failed]).score == 0.5)
        #expect(HealthReport(resources: ["a": .degraded]).score == 0.5)
        #expect(abs(report.score - 0.75 * 0.95) < 1e-12)
        var worse = HealthReport()
        var previous = worse.score
        for i in 0..<HealthReport.errorLimit {
            worse.record(error: "e\(i)", at: UInt64(i))
            #expect(worse.score < previous)
            #expect(worse.score >= 0)
            previous = worse.score
        }
    }

    @Test("only the latest errors are kept, also when decoding")
    func boundedErrors() throws {
        var report = HealthReport()
        for i in 0..<40 { report.record(error: "e\(i)", at: UInt64(i)) }
        #expect(report.recentErrors.count == HealthReport.errorLimit)
        #expect(report.recentErrors.first?.message == "e24")
        #expect(report.recentErrors.last?.message == "e39")

        let many = (0..<40).map { #"{"at": \#($0), "message": "e\#($0)"}"# }.joined(separator: ",")
        let decoded = try JSONDecoder().decode(HealthReport.self, from: Data(#"{"processAlive": true, "resources": {}, "recentErrors": [\#(many)]}"#.utf8))
        #expect(decoded.recentErrors == report.recentErrors)

        report.forgetErrors(before: 30)
        #expect(report.recentErrors.map(\.at) == Array(30..<40))
    }
}
