// Ctrl-C (SIGINT) or SIGTERM during `autore train`, `run` or `sweep`: stop as the time limit does, after the
// step or batch in progress, with everything checkpointed, so that the same command resumes; a second signal
// ends the process at once. Every other command, and a signal before the stop condition exists, keeps the
// default action (the process ends).
import Foundation
import RHF

enum StopSignal {
    /// Set once a command's stop condition is in use (`TimeLimit.condition`).
    nonisolated(unsafe) static var armed: sig_atomic_t = 0
    /// Set by the first SIGINT or SIGTERM after arming.
    nonisolated(unsafe) static var received: sig_atomic_t = 0
    /// What the handler writes (made before any signal: a handler may only call async-signal-safe functions).
    nonisolated(unsafe) static var note: UnsafeMutablePointer<CChar>?

    /// Installs the handler (from `main`, before any command runs). The two signals are also unblocked: a
    /// process started from a thread that blocks them (a Dispatch worker's, as in a test runner) inherits the
    /// mask and would otherwise never see them.
    static func install() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        note = strdup("\nautore: stopping after the step in progress (checkpointed; rerun the command to continue); signal again to end now\n")
        for s in [SIGINT, SIGTERM] {
            signal(s) { sig in
                if StopSignal.armed == 0 || StopSignal.received != 0 {
                    signal(sig, SIG_DFL)
                    raise(sig)
                    return
                }
                StopSignal.received = 1
                if let n = StopSignal.note { _ = write(STDERR_FILENO, n, strlen(n)) }
            }
        }
    }

    /// `condition`, also met once a stop signal has arrived.
    static func arming(_ condition: StopCondition) -> StopCondition {
        armed = 1
        let inner = condition.now
        return StopCondition(step: condition.step) { received != 0 || inner() }
    }

    /// What ended a stopped command, for its last line.
    static var reason: String { received != 0 ? "stopped on request" : "time limit" }
}
