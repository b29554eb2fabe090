// Cells written in C++ for the tests of C++ cells in the recurrent layer, the task
// models and the model file (a second binary loads what a first one saved with
// them, without this code).
//
//   janet:        a forget-gate-only LSTM (van der Westhuizen & Lasenby 2018), no
//                 fused kernel: f = σ(x Wf + h Uf + bf), g = tanh(x Wg + h Ug + bg),
//                 c' = f c + (1 - f) g, h' = tanh(c'); runs on the compiled plan.
//   concat_lstm:  the LSTM written with one matmul of concat(x, h) against a
//                 [I + H, 4H] weight and a split: recognised and fused as lstm.
#ifndef GATEFUSE_MODELS_NN_CPP_CELLS_TESTING_H_
#define GATEFUSE_MODELS_NN_CPP_CELLS_TESTING_H_

#include "models/nn/recurrent.h"

namespace gatefuse::testing_cells {

CellSpec Janet();
CellSpec ConcatLstm();

}  // namespace gatefuse::testing_cells

#endif  // GATEFUSE_MODELS_NN_CPP_CELLS_TESTING_H_
