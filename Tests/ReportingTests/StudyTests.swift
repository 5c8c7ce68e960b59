// The study the report describes is read from Data/report: its sections and facts, and the section parser
// keeps every line as written.
import Foundation
import Testing
@testable import Reporting

@Suite struct StudyTests {
    static let report = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Data/report")

    @Test func theStudyFilesHoldEverySection() throws {
        let s = try Study.load(from: Self.report)
        #expect(s.mainExperiment == "main_rhf" && s.excluded == ["quickstart"] && s.published.count == 4)
        #expect(s.introduction.hasPrefix("# Results\n") && s.introduction.hasSuffix("column for column.\n"))
        #expect(s.fallbackCaveat.hasPrefix("- *Data*:") && s.runsHeading == "Our runs (SmolLM2-135M-Instruct over an NF4 base, Gemma 3 270M over its GGUF blocks for `gemma_*`; LoRA unless \"full\")")
    }

    @Test func sectionsKeepTheirLinesExactly() {
        let s = Study.sections("<!-- a note -->\n<!-- section: one -->\nx\n\n  y\n<!-- section: two -->\nz\n")
        #expect(s == ["one": "x\n\n  y\n", "two": "z\n"])
    }
}
