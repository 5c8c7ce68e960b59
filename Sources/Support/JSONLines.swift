// JSON Lines (one JSON value a line, each line ending in a newline): the metrics logs and prediction
// files. Encoding and decoding only; appending whole lines durably is LineFile's, rewriting whole files
// AtomicFile's.
import Foundation

/// Records as JSON Lines and back.
///
///     let data = try JSONLines.encode(records, with: encoder)        // each record, then "\n"
///     let back = JSONLines.decodeValid(Record.self, from: data)       // lines that do not decode are skipped
public enum JSONLines {
    /// Each record as `encoder` writes it, followed by a newline.
    public static func encode<T: Encodable>(_ records: [T], with encoder: JSONEncoder) throws -> Data {
        var out = Data()
        for r in records { out += try encoder.encode(r); out.append(0x0A) }
        return out
    }

    /// The non-empty lines of `data`, without their newlines.
    public static func lines(_ data: Data) -> [Data] {
        data.split(separator: 0x0A).map { Data($0) }
    }

    /// Every line that decodes as `T`; the others (a torn last line of a killed writer) are skipped.
    public static func decodeValid<T: Decodable>(_ type: T.Type, from data: Data, decoder: JSONDecoder = JSONDecoder()) -> [T] {
        lines(data).compactMap { try? decoder.decode(T.self, from: $0) }
    }

    /// The leading lines that decode as `T`, up to the first that does not (a torn tail ends the records).
    public static func decodePrefix<T: Decodable>(_ type: T.Type, from data: Data, decoder: JSONDecoder = JSONDecoder()) -> [T] {
        var out: [T] = []
        for line in lines(data) {
            guard let r = try? decoder.decode(T.self, from: line) else { break }
            out.append(r)
        }
        return out
    }
}
