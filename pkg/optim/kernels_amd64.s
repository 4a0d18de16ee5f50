//go:build !purego

#include "textflag.h"

// The float32 momentum and Adam kernels of kernels_amd64.go in SSE2 (every amd64
// has it): the scalar code's operations in its order, each rounded once,
// no fused multiply-add, so the bits are those of the Go loops. Loads are
// unaligned (MOVUPS): slices of a flat vector start anywhere.

// func momentumF32(w, g, v []float32, mu, lr float32)
TEXT ·momentumF32(SB), NOSPLIT, $0-80
	MOVQ   w_base+0(FP), DI
	MOVQ   g_base+24(FP), SI
	MOVQ   v_base+48(FP), DX
	MOVQ   w_len+8(FP), CX
	MOVSS  mu+72(FP), X0
	SHUFPS $0, X0, X0
	MOVSS  lr+76(FP), X1
	SHUFPS $0, X1, X1
	XORQ   AX, AX
	MOVQ   CX, BX
	ANDQ   $-8, BX
	JZ     mtail

mloop:
	MOVUPS (SI)(AX*4), X2
	MOVUPS 16(SI)(AX*4), X7
	MOVUPS (DX)(AX*4), X3
	MOVUPS 16(DX)(AX*4), X4
	MULPS  X0, X3
	MULPS  X0, X4
	ADDPS  X2, X3
	ADDPS  X7, X4
	MOVUPS X3, (DX)(AX*4)
	MOVUPS X4, 16(DX)(AX*4)
	MULPS  X1, X3
	MULPS  X1, X4
	MOVUPS (DI)(AX*4), X5
	MOVUPS 16(DI)(AX*4), X6
	SUBPS  X3, X5
	SUBPS  X4, X6
	MOVUPS X5, (DI)(AX*4)
	MOVUPS X6, 16(DI)(AX*4)
	ADDQ   $8, AX
	CMPQ   AX, BX
	JLT    mloop

mtail:
	CMPQ  AX, CX
	JGE   mdone
	MOVSS (DX)(AX*4), X3
	MULSS X0, X3
	ADDSS (SI)(AX*4), X3
	MOVSS X3, (DX)(AX*4)
	MULSS X1, X3
	MOVSS (DI)(AX*4), X5
	SUBSS X3, X5
	MOVSS X5, (DI)(AX*4)
	INCQ  AX
	JMP   mtail

mdone:
	RET

// func nesterovF32(w, g, v []float32, mu, lr float32)
TEXT ·nesterovF32(SB), NOSPLIT, $0-80
	MOVQ   w_base+0(FP), DI
	MOVQ   g_base+24(FP), SI
	MOVQ   v_base+48(FP), DX
	MOVQ   w_len+8(FP), CX
	MOVSS  mu+72(FP), X0
	SHUFPS $0, X0, X0
	MOVSS  lr+76(FP), X1
	SHUFPS $0, X1, X1
	XORQ   AX, AX
	MOVQ   CX, BX
	ANDQ   $-8, BX
	JZ     ntail

nloop:
	MOVUPS (SI)(AX*4), X2
	MOVUPS 16(SI)(AX*4), X7
	MOVUPS (DX)(AX*4), X3
	MOVUPS 16(DX)(AX*4), X4
	MULPS  X0, X3
	MULPS  X0, X4
	ADDPS  X2, X3
	ADDPS  X7, X4
	MOVUPS X3, (DX)(AX*4)
	MOVUPS X4, 16(DX)(AX*4)
	MULPS  X0, X3
	MULPS  X0, X4
	ADDPS  X2, X3
	ADDPS  X7, X4
	MULPS  X1, X3
	MULPS  X1, X4
	MOVUPS (DI)(AX*4), X5
	MOVUPS 16(DI)(AX*4), X6
	SUBPS  X3, X5
	SUBPS  X4, X6
	MOVUPS X5, (DI)(AX*4)
	MOVUPS X6, 16(DI)(AX*4)
	ADDQ   $8, AX
	CMPQ   AX, BX
	JLT    nloop

ntail:
	CMPQ  AX, CX
	JGE   ndone
	MOVSS (SI)(AX*4), X2
	MOVSS (DX)(AX*4), X3
	MULSS X0, X3
	ADDSS X2, X3
	MOVSS X3, (DX)(AX*4)
	MULSS X0, X3
	ADDSS X2, X3
	MULSS X1, X3
	MOVSS (DI)(AX*4), X5
	SUBSS X3, X5
	MOVSS X5, (DI)(AX*4)
	INCQ  AX
	JMP   ntail

ndone:
	RET

// func adamF32(w, g, m, v []float32, b1, c1, b2, c2, step, rs, eps float32)
// The square root is SQRTPS: a float32's square root taken in float64 and
// rounded to float32, as the Go loop takes it, is the correctly rounded
// one, which SQRTPS gives.
TEXT ·adamF32(SB), NOSPLIT, $0-124
	MOVQ   w_base+0(FP), DI
	MOVQ   g_base+24(FP), SI
	MOVQ   m_base+48(FP), R8
	MOVQ   v_base+72(FP), DX
	MOVQ   w_len+8(FP), CX
	MOVSS  b1+96(FP), X0
	SHUFPS $0, X0, X0
	MOVSS  c1+100(FP), X1
	SHUFPS $0, X1, X1
	MOVSS  b2+104(FP), X2
	SHUFPS $0, X2, X2
	MOVSS  c2+108(FP), X3
	SHUFPS $0, X3, X3
	MOVSS  step+112(FP), X4
	SHUFPS $0, X4, X4
	MOVSS  rs+116(FP), X5
	SHUFPS $0, X5, X5
	MOVSS  eps+120(FP), X6
	SHUFPS $0, X6, X6
	XORQ   AX, AX
	MOVQ   CX, BX
	ANDQ   $-4, BX
	JZ     atail

aloop:
	MOVUPS (SI)(AX*4), X7
	MOVUPS (R8)(AX*4), X8
	MULPS  X0, X8
	MOVAPS X7, X9
	MULPS  X1, X9
	ADDPS  X9, X8
	MOVUPS X8, (R8)(AX*4)
	MOVUPS (DX)(AX*4), X10
	MULPS  X2, X10
	MOVAPS X7, X11
	MULPS  X3, X11
	MULPS  X7, X11
	ADDPS  X11, X10
	MOVUPS X10, (DX)(AX*4)
	SQRTPS X10, X12
	MULPS  X5, X12
	ADDPS  X6, X12
	MULPS  X4, X8
	DIVPS  X12, X8
	MOVUPS (DI)(AX*4), X13
	SUBPS  X8, X13
	MOVUPS X13, (DI)(AX*4)
	ADDQ   $4, AX
	CMPQ   AX, BX
	JLT    aloop

atail:
	CMPQ   AX, CX
	JGE    adone
	MOVSS  (SI)(AX*4), X7
	MOVSS  (R8)(AX*4), X8
	MULSS  X0, X8
	MOVSS  X7, X9
	MULSS  X1, X9
	ADDSS  X9, X8
	MOVSS  X8, (R8)(AX*4)
	MOVSS  (DX)(AX*4), X10
	MULSS  X2, X10
	MOVSS  X7, X11
	MULSS  X3, X11
	MULSS  X7, X11
	ADDSS  X11, X10
	MOVSS  X10, (DX)(AX*4)
	SQRTSS X10, X12
	MULSS  X5, X12
	ADDSS  X6, X12
	MULSS  X4, X8
	DIVSS  X12, X8
	MOVSS  (DI)(AX*4), X13
	SUBSS  X8, X13
	MOVSS  X13, (DI)(AX*4)
	INCQ   AX
	JMP    atail

adone:
	RET
