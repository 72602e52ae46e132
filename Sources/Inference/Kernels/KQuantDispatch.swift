// Which instruction set runs the K-quant kernels: fixed at build time (Package.swift reads the build
// machine's CPU flags), so the hot loop has no branch on it. Each path's rows run in its own file
// (x86/AVX512, x86/AVX2, Portable), where its intrinsics inline.

extension Q4_K {
    static func rows(_ rows: Range<Int>, weights: UnsafeRawPointer, rowBytes: Int, x: UnsafePointer<Q8KView>, tokens: Int, columns: Int,
                     y: UnsafeMutablePointer<Float>, stride: Int) {
        #if KERNELS_AVX512
        avx512Rows(rows, weights: weights, rowBytes: rowBytes, x: x, tokens: tokens, columns: columns, y: y, stride: stride)
        #elseif KERNELS_AVX2
        avx2Rows(rows, weights: weights, rowBytes: rowBytes, x: x, tokens: tokens, columns: columns, y: y, stride: stride)
        #else
        portableRows(rows, weights: weights, rowBytes: rowBytes, x: x, tokens: tokens, columns: columns, y: y, stride: stride)
        #endif
    }

}

extension Q5_K {
    static func rows(_ rows: Range<Int>, weights: UnsafeRawPointer, rowBytes: Int, x: UnsafePointer<Q8KView>, tokens: Int, columns: Int,
                     y: UnsafeMutablePointer<Float>, stride: Int) {
        #if KERNELS_AVX512
        avx512Rows(rows, weights: weights, rowBytes: rowBytes, x: x, tokens: tokens, columns: columns, y: y, stride: stride)
        #elseif KERNELS_AVX2
        avx2Rows(rows, weights: weights, rowBytes: rowBytes, x: x, tokens: tokens, columns: columns, y: y, stride: stride)
        #else
        portableRows(rows, weights: weights, rowBytes: rowBytes, x: x, tokens: tokens, columns: columns, y: y, stride: stride)
        #endif
    }

}

extension Q6_K {
    static func rows(_ rows: Range<Int>, weights: UnsafeRawPointer, rowBytes: Int, x: UnsafePointer<Q8KView>, tokens: Int, columns: Int,
                     y: UnsafeMutablePointer<Float>, stride: Int) {
        #if KERNELS_AVX512
        avx512Rows(rows, weights: weights, rowBytes: rowBytes, x: x, tokens: tokens, columns: columns, y: y, stride: stride)
        #elseif KERNELS_AVX2
        avx2Rows(rows, weights: weights, rowBytes: rowBytes, x: x, tokens: tokens, columns: columns, y: y, stride: stride)
        #else
        portableRows(rows, weights: weights, rowBytes: rowBytes, x: x, tokens: tokens, columns: columns, y: y, stride: stride)
        #endif
    }

}
