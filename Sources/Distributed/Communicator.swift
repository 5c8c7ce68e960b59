// The processes of one job and what they exchange: rank and size, sums of Float and Double buffers
// (gradients, losses), broadcasts and gathers of bytes, barriers. One process alone is a `SingleProcess`;
// under `mpirun` the processes talk through Open MPI (`MPICommunicator`). Not what is exchanged
// (FineTuning splits a batch over the ranks; AutoRE shards documents).
import CMPI
import Foundation
import Support

/// The processes of a job. Every rank calls the collective operations in the same order.
public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Replaces `values` on every rank by their element-wise sum over the ranks.
    func allreduceSum(_ values: inout [Float]) throws
    func allreduceSum(_ values: inout [Double]) throws
    /// Gives every rank `root`'s bytes.
    func broadcast(_ bytes: inout [UInt8], root: Int) throws
    /// Every rank's bytes, in rank order, at `root` (nil on the other ranks).
    func gather(_ bytes: [UInt8], root: Int) throws -> [[UInt8]]?
    /// Every rank's values, in rank order, on every rank (the ranks may send different counts).
    func allgather(_ values: [Float]) throws -> [[Float]]
    /// Returns once every rank has called it.
    func barrier() throws
}

extension Communicator {
    /// Whether this rank writes the job's files (logs, checkpoints, results): rank 0.
    public var isLead: Bool { rank == 0 }

    /// `root`'s flags on every rank (a decision one rank makes for all: stop now, stop early).
    public func agree(_ flags: [Bool], root: Int = 0) throws -> [Bool] {
        var bytes = rank == root ? flags.map { $0 ? UInt8(1) : 0 } : [UInt8](repeating: 0, count: flags.count)
        try broadcast(&bytes, root: root)
        return bytes.map { $0 != 0 }
    }

    /// `root`'s value on every rank, sent as JSON (a small decision or outcome the root made for all).
    public func broadcast<T: Codable>(_ value: T?, root: Int = 0) throws -> T {
        var bytes = rank == root ? Array(try JSONEncoder().encode(value)) : []
        try broadcast(&bytes, root: root)
        guard let shared = try JSONDecoder().decode(T?.self, from: Data(bytes)) else {
            throw CommunicatorError(call: "broadcast", message: "rank \(root) sent no value")
        }
        return shared
    }

    /// Runs `body` on every rank and fails on every rank when it failed on any, so that no rank waits in a
    /// later collective for one that has given up. A failing rank throws its own error; the others throw
    /// `RankFailed` with the first failing rank's message. Collective: every rank calls it, in the same order.
    ///
    ///     let base = try comm.together { try LoadedModel(config: cfg) }   // one rank lacks the file: all stop
    public func together<T>(_ body: () throws -> T) throws -> T {
        let outcome = Result { try body() }
        var message: String?
        if case .failure(let error) = outcome { message = "\(error)" }
        let gathered = try gather(message.map { Array($0.utf8) } ?? [], root: 0)
        // the lead names the first failing rank (empty messages are ranks that succeeded)
        let verdict: Verdict = try broadcast(gathered.map { all in
            Verdict(failed: all.firstIndex { !$0.isEmpty }.map { RankFailed(rank: $0, message: String(decoding: all[$0], as: UTF8.self)) })
        })
        if let failed = verdict.failed {
            if case .failure(let own) = outcome { throw own }
            throw failed
        }
        return try outcome.get()
    }

    /// Fails on every rank, naming the first rank that differs, unless every rank holds rank 0's `text`
    /// (compared by a CRC-32 and length broadcast from rank 0): a job whose ranks read different configs
    /// would train or decode different things under one name. `what` names the text, `source` where this
    /// rank read it.
    public func requireSame(_ text: String, what: String, source: String? = nil) throws {
        let bytes = Array(text.utf8)
        let mine = Fingerprint(crc: CRC32.checksum(bytes), length: bytes.count)
        let lead: Fingerprint = try broadcast(isLead ? mine : nil)
        try together {
            guard mine == lead else { throw RanksDiffer(rank: rank, what: what, source: source, mine: mine, lead: lead) }
        }
    }
}

/// A rank whose text (config, settings) is not rank 0's.
public struct RanksDiffer: Error, CustomStringConvertible {
    var rank: Int, what: String, source: String?
    var mine: Fingerprint, lead: Fingerprint
    public var description: String {
        "rank \(rank)'s \(what)\(source.map { " (\($0))" } ?? "") differs from rank 0's (CRC-32 \(String(mine.crc, radix: 16)) of "
            + "\(mine.length) bytes against \(String(lead.crc, radix: 16)) of \(lead.length)): every rank must read the same \(what)"
    }
}

/// What the lead of `Communicator.together` tells every rank: the first rank that failed, if one did.
struct Verdict: Codable { var failed: RankFailed? }

/// What a text's ranks compare.
struct Fingerprint: Codable, Equatable { var crc: UInt32; var length: Int }

/// Another rank's failure, seen by a rank that did not fail itself (`Communicator.together`).
public struct RankFailed: Error, CustomStringConvertible, Codable {
    public var rank: Int
    public var message: String
    public var description: String { "rank \(rank): \(message)" }
}

/// A job of one process: every collective operation is the identity.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allreduceSum(_ values: inout [Float]) throws {}
    public func allreduceSum(_ values: inout [Double]) throws {}
    public func broadcast(_ bytes: inout [UInt8], root: Int) throws {}
    public func gather(_ bytes: [UInt8], root: Int) throws -> [[UInt8]]? { [bytes] }
    public func allgather(_ values: [Float]) throws -> [[Float]] { [values] }
    public func barrier() throws {}
}

/// An MPI call that failed, with the library's message.
public struct CommunicatorError: Error, CustomStringConvertible {
    public var call: String
    public var message: String
    public var description: String { "MPI: \(call) failed: \(message)" }
}

/// The processes `mpirun` started (MPI_COMM_WORLD). MPI is initialised once per process, on first use,
/// and finalised when the process exits; errors are returned (not aborted on) and carry MPI's message.
///
///     let comm = try MPICommunicator.job()      // SingleProcess unless started by mpirun
///     var g: [Float] = grads; try comm.allreduceSum(&g)
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    let comm: MPI_Comm

    /// Whether this process was started by an MPI launcher (mpirun, srun with PMIx): Open MPI's and PMIx's
    /// environment variables.
    public static var launched: Bool {
        let env = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"].contains { env[$0] != nil }
    }

    /// The communicator of this job: MPI's world when launched by `mpirun`, else a single process.
    public static func job() throws -> Communicator {
        launched ? try MPICommunicator() : SingleProcess()
    }

    nonisolated(unsafe) static var initialised = false

    /// A communicator over `comm` (one of MPI's, with its error handler set).
    private init(comm: MPI_Comm) throws {
        self.comm = comm
        var r: Int32 = 0, s: Int32 = 0
        try Self.check(MPI_Comm_rank(comm, &r), "MPI_Comm_rank")
        try Self.check(MPI_Comm_size(comm, &s), "MPI_Comm_size")
        rank = Int(r); size = Int(s)
    }

    /// The ranks of this communicator that pass the same `color`, as a communicator of their own, ranked
    /// by `key` (then by rank here): `MPI_Comm_split`. Collective: every rank calls it.
    ///
    ///     let group = try world.split(color: world.rank / 2, key: world.rank)   // pairs of ranks
    public func split(color: Int, key: Int) throws -> MPICommunicator {
        var part = cmpi_comm_null()
        try Self.check(MPI_Comm_split(comm, Int32(color), Int32(key), &part), "MPI_Comm_split")
        guard let part, part != cmpi_comm_null() else { throw CommunicatorError(call: "MPI_Comm_split", message: "no communicator for color \(color)") }
        MPI_Comm_set_errhandler(part, cmpi_errors_return())
        return try MPICommunicator(comm: part)
    }

    /// MPI's world (`MPI_COMM_WORLD`), MPI initialised first when no one has yet.
    public convenience init() throws {
        if !Self.initialised {
            var ready: Int32 = 0
            MPI_Initialized(&ready)
            if ready == 0 {
                let rc = MPI_Init(nil, nil)
                guard rc == MPI_SUCCESS else { throw CommunicatorError(call: "MPI_Init", message: Self.message(rc)) }
                atexit { var done: Int32 = 0; MPI_Finalized(&done); if done == 0 { MPI_Finalize() } }
            }
            Self.initialised = true
        }
        guard let world = cmpi_comm_world() else { throw CommunicatorError(call: "MPI_COMM_WORLD", message: "no world communicator") }
        MPI_Comm_set_errhandler(world, cmpi_errors_return())
        try self.init(comm: world)
    }

    static func message(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &buffer, &length)
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self) + " (code \(code))"
    }

    static func check(_ code: Int32, _ call: String) throws {
        guard code == MPI_SUCCESS else { throw CommunicatorError(call: call, message: message(code)) }
    }

    /// MPI counts are Int32: a buffer past that is an error, not a silent truncation.
    func count(_ n: Int, _ call: String) throws -> Int32 {
        guard n <= Int(Int32.max) else { throw CommunicatorError(call: call, message: "\(n) elements exceed MPI's Int32 count") }
        return Int32(n)
    }

    public func allreduceSum(_ values: inout [Float]) throws {
        let n = try count(values.count, "MPI_Allreduce")
        try values.withUnsafeMutableBytes { b in
            try Self.check(MPI_Allreduce(cmpi_in_place(), b.baseAddress, n, cmpi_float(), cmpi_sum(), comm), "MPI_Allreduce")
        }
    }

    public func allreduceSum(_ values: inout [Double]) throws {
        let n = try count(values.count, "MPI_Allreduce")
        try values.withUnsafeMutableBytes { b in
            try Self.check(MPI_Allreduce(cmpi_in_place(), b.baseAddress, n, cmpi_double(), cmpi_sum(), comm), "MPI_Allreduce")
        }
    }

    public func broadcast(_ bytes: inout [UInt8], root: Int) throws {
        // the length first, so that ranks need not know it
        var length = [Int32(try count(bytes.count, "MPI_Bcast"))]
        try length.withUnsafeMutableBytes { b in try Self.check(MPI_Bcast(b.baseAddress, 1, cmpi_int(), Int32(root), comm), "MPI_Bcast") }
        if rank != root { bytes = [UInt8](repeating: 0, count: Int(length[0])) }
        try bytes.withUnsafeMutableBytes { b in
            try Self.check(MPI_Bcast(b.baseAddress, length[0], cmpi_byte(), Int32(root), comm), "MPI_Bcast")
        }
    }

    public func gather(_ bytes: [UInt8], root: Int) throws -> [[UInt8]]? {
        var mine = [Int32(try count(bytes.count, "MPI_Gather"))]
        var lengths = [Int32](repeating: 0, count: size)
        try mine.withUnsafeMutableBytes { m in try lengths.withUnsafeMutableBytes { l in
            try Self.check(MPI_Gather(m.baseAddress, 1, cmpi_int(), l.baseAddress, 1, cmpi_int(), Int32(root), comm), "MPI_Gather")
        } }
        var offsets = [Int32](repeating: 0, count: size)
        for i in 1..<max(1, size) { offsets[i] = offsets[i - 1] + lengths[i - 1] }
        var all = [UInt8](repeating: 0, count: rank == root ? Int(lengths.reduce(0, +)) : 0)
        var sent = bytes
        try sent.withUnsafeMutableBytes { s in try all.withUnsafeMutableBytes { a in
            try Self.check(MPI_Gatherv(s.baseAddress, mine[0], cmpi_byte(), a.baseAddress, &lengths, &offsets, cmpi_byte(), Int32(root), comm), "MPI_Gatherv")
        } }
        guard rank == root else { return nil }
        return (0..<size).map { Array(all[Int(offsets[$0])..<Int(offsets[$0] + lengths[$0])]) }
    }

    public func allgather(_ values: [Float]) throws -> [[Float]] {
        var mine = [Int32(try count(values.count, "MPI_Allgather"))]
        var counts = [Int32](repeating: 0, count: size)
        try mine.withUnsafeMutableBytes { m in try counts.withUnsafeMutableBytes { c in
            try Self.check(MPI_Allgather(m.baseAddress, 1, cmpi_int(), c.baseAddress, 1, cmpi_int(), comm), "MPI_Allgather")
        } }
        var offsets = [Int32](repeating: 0, count: size)
        for i in 1..<max(1, size) { offsets[i] = offsets[i - 1] + counts[i - 1] }
        let total = counts.reduce(0) { $0 + Int($1) }
        _ = try count(total, "MPI_Allgatherv")
        var all = [Float](repeating: 0, count: total)
        var sent = values
        try sent.withUnsafeMutableBytes { s in try all.withUnsafeMutableBytes { a in
            try Self.check(MPI_Allgatherv(s.baseAddress, mine[0], cmpi_float(), a.baseAddress, &counts, &offsets, cmpi_float(), comm), "MPI_Allgatherv")
        } }
        return (0..<size).map { Array(all[Int(offsets[$0])..<Int(offsets[$0] + counts[$0])]) }
    }

    public func barrier() throws { try Self.check(MPI_Barrier(comm), "MPI_Barrier") }
}
