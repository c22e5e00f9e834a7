/*
 * onnx.h - ONNX model files in and out: catdog's models as ONNX graphs, and
 * ONNX classifiers (PyTorch exports) as catdog models.
 *
 * The bytes are protobuf; the C code that reads and writes them is generated at
 * build time by protoc-c from Debian's onnx.proto (libonnx-dev; see
 * CMakeLists.txt), so no hand-written parser ever sees a file.  protobuf-c
 * allocates through a budgeted allocator (onnx_internal.h): a file can make the
 * reader allocate at most a fixed multiple of its own size, and every tensor's
 * shape is checked against the bytes it really holds before catdog allocates it.
 *
 * Layouts.  ONNX graphs are NCHW with OIHW convolution weights and [out, in]
 * (or [in, out]) Gemm weights; catdog's engine is NHWC with HWIO and [in, out]
 * (engine/tensor.h).  The conversion happens once, at load or save, on the
 * weights: nothing is transposed per call.  A Flatten after a convolution is
 * the one place where the orders meet: catdog writes Transpose(0,2,3,1) before
 * the Flatten (so the Dense rows stay Keras' order), and on import a plain NCHW
 * Flatten permutes the following Gemm/MatMul rows instead.
 *
 * Export (onnx_save): input "input" [N, 3, H, W] float32 already preprocessed
 * (the mode in metadata_props "catdog_preprocess"), N dynamic; output "p_dog"
 * [N, 1] = P(dog) (a 2-unit softmax head is sliced to its dog column).
 *
 * Import (onnx_load): the operators the engine has - Conv (dilation 1, group
 * 1, pads that are VALID or TensorFlow's SAME), Relu, Sigmoid, Tanh, Softmax,
 * MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, Concat on channels,
 * Flatten, Reshape to [N, -1], Gemm, MatMul (+ Add of a bias),
 * BatchNormalization folded into the Conv/Gemm before it, Dropout,
 * Identity, Pad of zeros (around H and W: ZeroPadding2D), Slice of H and W
 * (Cropping2D), Div by a constant, Resize with TensorFlow's half-pixel rule
 * (Resizing), Reshape of NHWC values to [N, H, W, C] (Reshape), Constant and
 * the shape arithmetic (Shape, Gather, Slice, Unsqueeze, Concat, Squeeze of
 * constants) PyTorch emits for x.view(x.size(0), -1) and catdog for Resize's sizes.
 * Opsets 11 to 20 of the default domain.  A graph ending in Sigmoid or
 * Softmax gives probabilities; one ending in Gemm/MatMul gives logits, which
 * get a sigmoid (1 unit) or a softmax (2 units; class 1 = dog) fused in.  The
 * model's preprocessing is metadata_props "catdog_preprocess" when present,
 * else torch (ImageNet mean/std, core/preprocess.h).
 * Errors are one line: an operator the engine lacks names the node, its op
 * type and the opset ("node 'Add_7': op Add (opset 13) is not supported").
 */
#ifndef CATDOG_ONNX_ONNX_H
#define CATDOG_ONNX_ONNX_H

#include <stddef.h>

#include "core/error.h"
#include "engine/model.h"

#define ONNX_OPSET_MIN 11
#define ONNX_OPSET_MAX 20
#define ONNX_OPSET_DEFAULT 13

/* Largest .onnx file read (protobuf's own 2 GiB message limit). */
#define ONNX_MAX_FILE_BYTES ((size_t)2 << 30)

typedef struct onnx_load_opts {
    int img_size;   /* input size for graphs whose H/W are dynamic; 0 = refuse them */
} onnx_load_opts;

typedef struct onnx_save_opts {
    int opset;      /* ONNX_OPSET_MIN..ONNX_OPSET_MAX; 0 = ONNX_OPSET_DEFAULT */
} onnx_save_opts;

/* 1 when the file at path should be read as ONNX: not an HDF5 file, and
 * either named *.onnx (any case) or starting the way ONNX writers start a
 * ModelProto (ir_version 1 to 20 first).  Reads at most 8 bytes; an
 * unreadable file is judged by its name (the loader then says why). */
int onnx_is_onnx_file(const char *path);

/* Loads an ONNX model file.  opts may be NULL.  Caller frees with model_free.
 * NULL with err filled ("FILE: ..." one line) on any problem. */
model *onnx_load(const char *path, const onnx_load_opts *opts, cd_err *err);

/* Same from bytes in memory; `source` names them in messages. */
model *onnx_load_memory(const void *bytes, size_t len, const char *source,
                        const onnx_load_opts *opts, cd_err *err);

/* Writes m (shapes inferred) as an ONNX file at path (atomically, see
 * core/fileio.h).  opts may be NULL.  0 or -1. */
int onnx_save(const model *m, const char *path, const onnx_save_opts *opts, cd_err *err);

/* The same into a new buffer (caller frees) of *len bytes; NULL on error. */
unsigned char *onnx_save_memory(const model *m, const onnx_save_opts *opts, size_t *len,
                                cd_err *err);

#endif
