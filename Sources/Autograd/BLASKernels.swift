// Which of OpenBLAS's kernel sets runs the GEMMs, for the benchmarks to say beside their figures. OpenBLAS
// chooses the set when the library loads, by CPU model, unless OPENBLAS_CORETYPE names one; some hosts set
// it (older OpenBLAS builds compute wrong results or crash with the set they would pick), and the figures
// of two hosts compare only with the set each ran named.
import CBLAS

public enum BLASKernels {
    /// The kernel set OpenBLAS runs (its name for it, e.g. "Haswell", "SkylakeX").
    public static var current: String { String(cString: openblas_get_corename()) }
}
