//go:build !purego

#include "textflag.h"

// The float32 momentum kernels of kernels_amd64.go in SSE2 (every amd64
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
