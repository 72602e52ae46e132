// Which instruction set computes the K-quant integer sums: fixed at build time (Package.swift reads
// the build machine's CPU flags), so the hot loop has no branch on it.

extension Q4_K {
    @inline(__always)
    static func sums(_ w: UnsafeRawPointer, _ x: UnsafePointer<Q8KView>, block b: Int, tokens: Int, into out: UnsafeMutablePointer<KSums>) {
        #if KERNELS_AVX512
        avx512Sums(w, x, block: b, tokens: tokens, into: out)
        #elseif KERNELS_AVX2
        avx2Sums(w, x, block: b, tokens: tokens, into: out)
        #else
        portableSums(w, x, block: b, tokens: tokens, into: out)
        #endif
    }
}

extension Q5_K {
    @inline(__always)
    static func sums(_ w: UnsafeRawPointer, _ x: UnsafePointer<Q8KView>, block b: Int, tokens: Int, into out: UnsafeMutablePointer<KSums>) {
        #if KERNELS_AVX512
        avx512Sums(w, x, block: b, tokens: tokens, into: out)
        #elseif KERNELS_AVX2
        avx2Sums(w, x, block: b, tokens: tokens, into: out)
        #else
        portableSums(w, x, block: b, tokens: tokens, into: out)
        #endif
    }
}

extension Q6_K {
    @inline(__always)
    static func sums(_ w: UnsafeRawPointer, _ x: UnsafePointer<Q8KView>, block b: Int, tokens: Int, into out: UnsafeMutablePointer<KSums>) {
        #if KERNELS_AVX512
        avx512Sums(w, x, block: b, tokens: tokens, into: out)
        #elseif KERNELS_AVX2
        avx2Sums(w, x, block: b, tokens: tokens, into: out)
        #else
        portableSums(w, x, block: b, tokens: tokens, into: out)
        #endif
    }
}
