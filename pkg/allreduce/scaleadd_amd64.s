//go:build !purego

#include "textflag.h"

// The kernels of scaleadd_amd64.go, in SSE2 (every amd64 has it), so that
// no feature check is needed. Each value gets exactly the scalar code's
// operations, in its order: two products, their sum, a product, each
// rounded once (no fused multiply-add), so the bits are the same.

// func scaleAddF32(dst, src []float32, wd, ws, k float32)
TEXT ·scaleAddF32(SB), NOSPLIT, $0-60
	MOVQ   dst_base+0(FP), DI
	MOVQ   src_base+24(FP), SI
	MOVQ   src_len+32(FP), CX
	MOVSS  wd+48(FP), X0
	SHUFPS $0, X0, X0
	MOVSS  ws+52(FP), X1
	SHUFPS $0, X1, X1
	MOVSS  k+56(FP), X2
	SHUFPS $0, X2, X2
	XORQ   AX, AX
	MOVQ   CX, BX
	ANDQ   $-8, BX
	JZ     tail32

loop32:
	MOVUPS (DI)(AX*4), X3
	MOVUPS 16(DI)(AX*4), X4
	MOVUPS (SI)(AX*4), X5
	MOVUPS 16(SI)(AX*4), X6
	MULPS  X0, X3
	MULPS  X0, X4
	MULPS  X1, X5
	MULPS  X1, X6
	ADDPS  X5, X3
	ADDPS  X6, X4
	MULPS  X2, X3
	MULPS  X2, X4
	MOVUPS X3, (DI)(AX*4)
	MOVUPS X4, 16(DI)(AX*4)
	ADDQ   $8, AX
	CMPQ   AX, BX
	JLT    loop32

tail32:
	CMPQ  AX, CX
	JGE   done32
	MOVSS (DI)(AX*4), X3
	MOVSS (SI)(AX*4), X5
	MULSS X0, X3
	MULSS X1, X5
	ADDSS X5, X3
	MULSS X2, X3
	MOVSS X3, (DI)(AX*4)
	INCQ  AX
	JMP   tail32

done32:
	RET

// func scaleAddF64(dst, src []float64, wd, ws, k float64)
TEXT ·scaleAddF64(SB), NOSPLIT, $0-72
	MOVQ     dst_base+0(FP), DI
	MOVQ     src_base+24(FP), SI
	MOVQ     src_len+32(FP), CX
	MOVSD    wd+48(FP), X0
	UNPCKLPD X0, X0
	MOVSD    ws+56(FP), X1
	UNPCKLPD X1, X1
	MOVSD    k+64(FP), X2
	UNPCKLPD X2, X2
	XORQ     AX, AX
	MOVQ     CX, BX
	ANDQ     $-4, BX
	JZ       tail64

loop64:
	MOVUPD (DI)(AX*8), X3
	MOVUPD 16(DI)(AX*8), X4
	MOVUPD (SI)(AX*8), X5
	MOVUPD 16(SI)(AX*8), X6
	MULPD  X0, X3
	MULPD  X0, X4
	MULPD  X1, X5
	MULPD  X1, X6
	ADDPD  X5, X3
	ADDPD  X6, X4
	MULPD  X2, X3
	MULPD  X2, X4
	MOVUPD X3, (DI)(AX*8)
	MOVUPD X4, 16(DI)(AX*8)
	ADDQ   $4, AX
	CMPQ   AX, BX
	JLT    loop64

tail64:
	CMPQ  AX, CX
	JGE   done64
	MOVSD (DI)(AX*8), X3
	MOVSD (SI)(AX*8), X5
	MULSD X0, X3
	MULSD X1, X5
	ADDSD X5, X3
	MULSD X2, X3
	MOVSD X3, (DI)(AX*8)
	INCQ  AX
	JMP   tail64

done64:
	RET

// func scaleAddF32K64(dst, src []float32, wd, ws float32, k float64)
TEXT ·scaleAddF32K64(SB), NOSPLIT, $0-64
	MOVQ     dst_base+0(FP), DI
	MOVQ     src_base+24(FP), SI
	MOVQ     src_len+32(FP), CX
	MOVSS    wd+48(FP), X0
	SHUFPS   $0, X0, X0
	MOVSS    ws+52(FP), X1
	SHUFPS   $0, X1, X1
	MOVSD    k+56(FP), X2
	UNPCKLPD X2, X2
	XORQ     AX, AX
	MOVQ     CX, BX
	ANDQ     $-4, BX
	JZ       tailk

loopk:
	MOVUPS   (DI)(AX*4), X3
	MOVUPS   (SI)(AX*4), X5
	MULPS    X0, X3
	MULPS    X1, X5
	ADDPS    X5, X3
	// The sums to float64 two at a time, times k, and back. PSHUFD
	// writes all of X7: MOVHLPS would keep its upper half, and so chain
	// each iteration to the last.
	CVTPS2PD X3, X6
	PSHUFD   $0xEE, X3, X7
	CVTPS2PD X7, X7
	MULPD    X2, X6
	MULPD    X2, X7
	CVTPD2PS X6, X6
	CVTPD2PS X7, X7
	MOVLHPS  X7, X6
	MOVUPS   X6, (DI)(AX*4)
	ADDQ     $4, AX
	CMPQ     AX, BX
	JLT      loopk

tailk:
	CMPQ     AX, CX
	JGE      donek
	MOVSS    (DI)(AX*4), X3
	MOVSS    (SI)(AX*4), X5
	MULSS    X0, X3
	MULSS    X1, X5
	ADDSS    X5, X3
	CVTSS2SD X3, X6
	MULSD    X2, X6
	CVTSD2SS X6, X6
	MOVSS    X6, (DI)(AX*4)
	INCQ     AX
	JMP      tailk

donek:
	RET
