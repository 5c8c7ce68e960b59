// Shared fixtures: the committed hand-made documents and the real data when present.
import Foundation
@testable import DocRE

enum Fixture {
    static let url = DataLocation.projectData.appendingPathComponent("fixtures/tiny_redocred.json")
    static var docs: [Document] { try! DocumentLoader.load(url) }
    static var curie: Document { docs[0] }
    static var real: SplitLoader? { SplitLoader() }
    static func note(_ what: String) { print("skipped (\(what)): Re-DocRED data not found") }
}

func approx(_ a: Double, _ b: Double, _ tol: Double = 1e-9) -> Bool { abs(a - b) <= tol }
