// Tolerant parsing of generated text: relation lists, head lists and triplet lines. Never evaluates
// anything: a line is read by a JSON parser or split by hand. Entity strings are repaired to the
// closest passage span when asked; every change is counted in a `ParseReport`.
import Foundation

/// How an entity string written by the model is tied to the passage.
public enum SpanMatching: String, Codable, CaseIterable, Sendable {
    /// The string must equal a run of whole passage words (ignoring whitespace); a match that differs only
    /// in letter case is rewritten to the passage's text; anything else is dropped. Never changes a value.
    case wordBoundary
    /// The string may occur anywhere in the passage (ignoring whitespace), else it is replaced by the most
    /// similar span within `repairThreshold` (which can turn one value into another: "March 2002" →
    /// "March 2008"). The matching of runs before the word-boundary rule.
    case fuzzy
}

public struct ParserOptions: Sendable {
    /// Tie entity strings to the passage (`spanMatching` says how); off: keep them as written.
    public var repairSpans: Bool = true
    public var spanMatching: SpanMatching = .wordBoundary
    /// Minimum similarity ratio (1 − Levenshtein / longer length, case-folded) for a repair.
    public var repairThreshold: Double = 0.75
    /// Add r⁻¹(t, h) for every r(h, t) of a known inverse or symmetric pair.
    public var inverseCompletion: Bool = false
    /// Drop repeated heads/triplets. Off by default: distinct entities may share a name ("French" the
    /// language and "French" the nationality), so a repeated line can be a second, distinct fact;
    /// the evaluators never count a repeat of a matched fact as a false positive.
    public var dedupe: Bool = false
    /// Drop a triplet whose object is its subject (the same name, case-folded). Off by default: distinct
    /// entities may share a name (a town and its district both "Cotabato"), and 10 of the 17,284 dev labels
    /// (21 of 17,448 test labels) link two entities that share one; but a model's answers that name the
    /// subject as its own object are almost never those (main_one_r48 on select[0:20]: 25 of 516, none right).
    public var dropSelfRelations: Bool = false
    public init(repairSpans: Bool = true, spanMatching: SpanMatching = .wordBoundary, repairThreshold: Double = 0.75,
                inverseCompletion: Bool = false, dedupe: Bool = false, dropSelfRelations: Bool = false) {
        self.repairSpans = repairSpans; self.spanMatching = spanMatching; self.repairThreshold = repairThreshold
        self.inverseCompletion = inverseCompletion; self.dedupe = dedupe; self.dropSelfRelations = dropSelfRelations
    }
}

/// Counts of what parsing did to one or more outputs.
public struct ParseReport: Codable, Hashable, Sendable {
    public var lines = 0
    public var items = 0
    public var unparseable = 0
    public var unknownRelations = 0
    public var repaired = 0
    public var dropped = 0
    public var duplicates = 0
    public var inverseAdded = 0
    /// Triplets whose object is their subject, dropped (`ParserOptions.dropSelfRelations`).
    public var selfRelations = 0
    public init() {}
    public static func + (a: ParseReport, b: ParseReport) -> ParseReport {
        var r = ParseReport()
        r.lines = a.lines + b.lines; r.items = a.items + b.items; r.unparseable = a.unparseable + b.unparseable
        r.unknownRelations = a.unknownRelations + b.unknownRelations; r.repaired = a.repaired + b.repaired
        r.dropped = a.dropped + b.dropped; r.duplicates = a.duplicates + b.duplicates; r.inverseAdded = a.inverseAdded + b.inverseAdded
        r.selfRelations = a.selfRelations + b.selfRelations
        return r
    }
}

public struct ParsedList: Sendable {
    public var items: [String] = []
    /// Lines that gave nothing usable (unreadable, unknown relation, unrepairable entity).
    public var unparsed: [String] = []
    public var report = ParseReport()
}

public struct ParsedTriples: Sendable {
    public var triples: [Triple] = []
    public var unparsed: [String] = []
    public var report = ParseReport()
}

/// Parses model output for each stage.
///
///     let p = OutputParser(catalogue: .standard)
///     let r = p.parseTriples("1. [\"Paris\", \"capital of\", \"France\"]", passage: doc.passage)
///     r.triples   // [Triple("Paris", "capital of", "France")]
public struct OutputParser: Sendable {
    public let catalogue: RelationCatalogue
    public let options: ParserOptions
    public init(catalogue: RelationCatalogue = .standard, options: ParserOptions = ParserOptions()) {
        self.catalogue = catalogue; self.options = options
    }

    // MARK: lines

    /// Lines with numbering ("1.", "2)", "(3)") and bullets ("-", "*", "•") removed; empty lines and
    /// "none"-like lines skipped.
    static func cleanLines(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).compactMap { raw in
            var s = Substring(raw).drop(while: { $0.isWhitespace })
            var changed = true
            while changed {
                changed = false
                if let f = s.first, "-*•·>".contains(f) { s = s.dropFirst().drop(while: { $0.isWhitespace }); changed = true; continue }
                var digits = s.prefix(while: { $0.isASCII && $0.isNumber })
                if s.first == "(" { digits = s.dropFirst().prefix(while: { $0.isASCII && $0.isNumber }) }
                if !digits.isEmpty && digits.count <= 3 {
                    let rest = s.first == "(" ? s.dropFirst(1 + digits.count) : s.dropFirst(digits.count)
                    if let c = rest.first, ".):".contains(c), rest.dropFirst().first.map({ $0.isWhitespace || $0 == "[" || $0 == "\"" }) ?? false {
                        s = rest.dropFirst().drop(while: { $0.isWhitespace }); changed = true
                    }
                }
            }
            let line = String(s).trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { return nil }
            let l = line.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: ".!"))
            if ["none", "n/a", "no relation", "no relations", "nothing", "[]"].contains(l) { return nil }
            return line
        }
    }

    /// Removes one layer of matching quotes/brackets and trailing separators.
    static func unwrap(_ s: String) -> String {
        var t = s.trimmingCharacters(in: .whitespaces)
        while let l = t.last, ",;".contains(l) { t.removeLast(); t = t.trimmingCharacters(in: .whitespaces) }
        for (a, b) in [("\"", "\""), ("'", "'"), ("“", "”"), ("‘", "’"), ("[", "]"), ("(", ")"), ("`", "`")] {
            if t.count >= 2, t.hasPrefix(a), t.hasSuffix(b) { t = String(t.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces) }
        }
        return t
    }

    /// A JSON array of strings on the line, if it parses as one.
    static func jsonStrings(_ s: Substring) -> [String]? {
        guard let data = String(s).data(using: .utf8),
              let arr = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) as? [Any] else { return nil }
        let strs = arr.compactMap { $0 as? String }
        return strs.count == arr.count ? strs : nil
    }

    /// The line as one JSON string literal, if it is exactly one (the form heads are written in).
    static func jsonString(_ s: String) -> String? {
        guard let data = s.data(using: .utf8) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) as? String
    }

    /// Strings between quotes of one kind (with backslash escapes for double quotes).
    static func quoted(_ s: Substring, quote: Character) -> [String] {
        var out: [String] = [], cur = "", inside = false, escape = false
        let chars = Array(s)
        for (i, c) in chars.enumerated() {
            if inside {
                if escape { cur.append(c == "n" ? "\n" : c); escape = false; continue }
                if c == "\\" && quote == "\"" { escape = true; continue }
                if c == quote {
                    // a single quote inside a word ("People's") does not close the string
                    if quote == "'", i + 1 < chars.count, chars[i + 1].isLetter, i > 0, chars[i - 1].isLetter { cur.append(c); continue }
                    out.append(cur); cur = ""; inside = false
                } else { cur.append(c) }
            } else if c == quote {
                if quote == "'", i > 0, chars[i - 1].isLetter { continue }
                inside = true
            }
        }
        return out
    }

    /// Reads (head, relation, tail) strings from one cleaned line; nil if no reading is found.
    func splitTriplet(_ line: String) -> (String, String, String)? {
        // Outermost bracketed part, if any: stray text before and after is ignored.
        var body = Substring(line)
        if let open = line.firstIndex(where: { $0 == "[" || $0 == "(" || $0 == "{" }) {
            let closeChar: Character = line[open] == "[" ? "]" : line[open] == "(" ? ")" : "}"
            if let close = line.lastIndex(of: closeChar), close > open {
                if line[open] == "[", let a = Self.jsonStrings(line[open...close]), a.count == 3 { return (a[0], a[1], a[2]) }
                body = line[line.index(after: open)..<close]
            }
        }
        for q in ["\"", "'", "“"] as [Character] {
            var parts = Self.quoted(body, quote: q)
            if q == "“" { parts = Self.quoted(Substring(body.replacingOccurrences(of: "”", with: "“")), quote: "“") }
            if parts.count == 3 { return (parts[0], parts[1], parts[2]) }
        }
        // Unquoted: split on commas (or | or tabs) and anchor on a catalogue relation in the middle.
        for sep in [",", "|", "\t", ";"] {
            let parts = body.components(separatedBy: sep)
            // more than 12 pieces is not a triplet; the anchor search below is cubic in the count
            guard parts.count >= 3, parts.count <= 12 else { continue }
            if parts.count == 3 { return (Self.unwrap(parts[0]), Self.unwrap(parts[1]), Self.unwrap(parts[2])) }
            for i in 1..<(parts.count - 1) { for j in i..<(parts.count - 1) {
                let mid = Self.unwrap(parts[i...j].joined(separator: sep))
                if catalogue.canonical(mid) != nil {
                    return (Self.unwrap(parts[..<i].joined(separator: sep)), mid, Self.unwrap(parts[(j + 1)...].joined(separator: sep)))
                }
            } }
        }
        return nil
    }

    // MARK: stages

    /// Relation names, canonicalised by the catalogue; unknown names go to `unparsed`.
    public func parseRelations(_ text: String) -> ParsedList {
        var out = ParsedList()
        for line in Self.cleanLines(text) {
            out.report.lines += 1
            var candidates: [String]
            if line.hasPrefix("["), let a = Self.jsonStrings(Substring(line)) { candidates = a } else { candidates = [line] }
            var found: [String] = []
            for c in candidates {
                if let r = catalogue.canonical(Self.unwrap(c)) { found.append(r); continue }
                // "Relations: a, b" or stray text after a colon; several names split by , or ;
                let tail = c.split(separator: ":", maxSplits: 1).last.map(String.init) ?? c
                let pieces = tail.split(whereSeparator: { $0 == "," || $0 == ";" }).map { Self.unwrap(String($0)) }
                let rs = pieces.compactMap { catalogue.canonical($0) }
                if !rs.isEmpty && rs.count == pieces.count { found += rs } else if let r = catalogue.canonical(Self.unwrap(tail)) { found.append(r) }
            }
            if found.isEmpty { out.unparsed.append(line); out.report.unknownRelations += 1; continue }
            for r in found {
                if out.items.contains(r) { out.report.duplicates += 1 } else { out.items.append(r); out.report.items += 1 }
            }
        }
        return out
    }

    /// Entity names (one per line), repaired to passage spans when `passage` is given.
    public func parseHeads(_ text: String, passage: String?) -> ParsedList {
        var out = ParsedList()
        let matcher = passage.map { SpanMatcher(passage: $0, matching: options.spanMatching, threshold: options.repairThreshold) }
        for line in Self.cleanLines(text) {
            out.report.lines += 1
            let names: [String]
            if line.hasPrefix("["), let a = Self.jsonStrings(Substring(line)) { names = a }
            else if line.hasPrefix("\""), let s = Self.jsonString(line) { names = [s] }
            else { names = [Self.unwrap(line)] }
            for n in names {
                guard let fixed = fix(n, matcher, &out.report) else { out.unparsed.append(line); continue }
                if out.items.contains(fixed) {
                    out.report.duplicates += 1
                    if options.dedupe { continue }
                }
                out.items.append(fixed); out.report.items += 1
            }
        }
        return out
    }

    /// Triplets, one per line, with relation canonicalised and entities repaired; with `dropSelfRelations`, a
    /// triplet whose object is its subject is dropped (counted in `selfRelations`).
    public func parseTriples(_ text: String, passage: String?) -> ParsedTriples {
        var out = ParsedTriples()
        var seen = Set<Triple>()
        let matcher = passage.map { SpanMatcher(passage: $0, matching: options.spanMatching, threshold: options.repairThreshold) }
        for line in Self.cleanLines(text) {
            out.report.lines += 1
            guard let (h0, r0, t0) = splitTriplet(line) else { out.unparsed.append(line); out.report.unparseable += 1; continue }
            guard let r = catalogue.canonical(r0) else { out.unparsed.append(line); out.report.unknownRelations += 1; continue }
            guard let h = fix(h0, matcher, &out.report), let t = fix(t0, matcher, &out.report) else { out.unparsed.append(line); continue }
            if options.dropSelfRelations && h.lowercased() == t.lowercased() {
                out.unparsed.append(line); out.report.selfRelations += 1; continue
            }
            let tr = Triple(h, r, t)
            if !seen.insert(tr).inserted {
                out.report.duplicates += 1
                if options.dedupe { continue }
            }
            out.triples.append(tr); out.report.items += 1
        }
        if options.inverseCompletion {
            for tr in Array(out.triples) { for s in catalogue.inverses(of: tr.relation) {
                let inv = Triple(tr.tail, s, tr.head)
                if seen.insert(inv).inserted { out.triples.append(inv); out.report.inverseAdded += 1 }
            } }
        }
        return out
    }

    private func fix(_ s: String, _ m: SpanMatcher?, _ report: inout ParseReport) -> String? {
        let n = Text.normalised(s)
        if n.isEmpty { report.dropped += 1; return nil }
        guard let m = m, options.repairSpans else { return n }
        switch m.match(n) {
        case .exact: return n
        case .repaired(let r): report.repaired += 1; return r
        case .none: report.dropped += 1; return nil
        }
    }
}

/// Finds the passage span closest to a string.
public struct SpanMatcher: Sendable {
    public enum Match: Equatable { case exact, repaired(String), none }
    let tokens: [String]
    let lowerTokens: [[Unicode.Scalar]]
    let squeezedPassage: String
    let matching: SpanMatching
    let threshold: Double

    public init(passage: String, matching: SpanMatching = .wordBoundary, threshold: Double = 0.75) {
        tokens = passage.split(whereSeparator: { $0.isWhitespace }).map(String.init)
        lowerTokens = tokens.map { Array($0.lowercased().unicodeScalars) }
        squeezedPassage = Text.squeezed(passage)
        self.matching = matching
        self.threshold = threshold
    }

    /// `.wordBoundary`: `.exact` when the string, ignoring whitespace, equals passage words i..<j joined;
    /// `.repaired` with those words when it does so only ignoring letter case; else `.none`.
    /// `.fuzzy`: `.exact` when the string occurs in the passage ignoring whitespace; otherwise the most
    /// similar span of within ±2 tokens of its length if its ratio reaches the threshold.
    public func match(_ s: String) -> Match {
        let sq = Text.squeezed(s)
        if sq.isEmpty { return .none }
        if matching == .wordBoundary {
            if wordRun(Array(sq.unicodeScalars), lowercased: false) != nil { return .exact }
            if let r = wordRun(Array(sq.lowercased().unicodeScalars), lowercased: true) { return .repaired(tokens[r].joined(separator: " ")) }
            return .none
        }
        // a byte search: Foundation's contains traps on some strings decoded from invalid UTF-8 (fuzz finding 9)
        if squeezedPassage.utf8.firstRange(of: sq.utf8) != nil { return .exact }
        let q = Array(Text.normalised(s).lowercased().unicodeScalars)
        let n = max(1, Text.normalised(s).split(separator: " ").count)
        var best = 0.0, bestSpan: Range<Int>? = nil
        for len in max(1, n - 2)...(n + 2) where len <= tokens.count {
            for start in 0...(tokens.count - len) {
                var cand: [Unicode.Scalar] = []
                for k in start..<(start + len) { if k > start { cand.append(" ") }; cand += lowerTokens[k] }
                let longer = Double(max(cand.count, q.count))
                if Double(abs(cand.count - q.count)) > (1 - threshold) * longer { continue }
                let r = 1 - Double(levenshtein(q, cand)) / longer
                if r > best { best = r; bestSpan = start..<(start + len) }
            }
        }
        if let sp = bestSpan, best >= threshold { return .repaired(tokens[sp].joined(separator: " ")) }
        return .none
    }
}

extension SpanMatcher {
    /// The first run of whole passage words whose concatenation (no spaces) equals `target`.
    func wordRun(_ target: [Unicode.Scalar], lowercased: Bool) -> Range<Int>? {
        for i in tokens.indices {
            var k = 0, j = i
            while j < tokens.count && k < target.count {
                let w = lowercased ? lowerTokens[j] : Array(tokens[j].unicodeScalars)
                guard k + w.count <= target.count, target[k..<(k + w.count)].elementsEqual(w) else { break }
                k += w.count; j += 1
            }
            if k == target.count && j > i { return i..<j }
        }
        return nil
    }
}

/// Edit distance (insert, delete, substitute all cost 1), two-row dynamic programme.
public func levenshtein<T: Equatable>(_ a: [T], _ b: [T]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev = Array(0...b.count), cur = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        cur[0] = i
        for j in 1...b.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&prev, &cur)
    }
    return prev[b.count]
}
