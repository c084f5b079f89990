"""A tour of the engine: gradients, gradient checking, second derivatives, numerically safe losses.

    python examples/autodiff_tour.py
"""

import numpy as np

import micrograd_nd as mg


def main() -> None:
    rng = np.random.default_rng(0)

    # 1. Gradients of a small network's loss, and a check of every Jacobian element.
    x = mg.Tensor(rng.standard_normal((4, 3)))
    labels = np.array([0, 2, 1, 2])
    weight = mg.Tensor(rng.standard_normal((3, 3)), requires_grad=True)
    loss = mg.cross_entropy(mg.tanh(x @ weight), labels)
    loss.backward()
    print(f"cross-entropy loss: {loss.item():.6f}")
    print("∂loss/∂W:\n", weight.grad)
    ok = mg.gradcheck(lambda w: mg.cross_entropy(mg.tanh(x @ w), labels), [weight.data])
    print("gradcheck against central differences:", ok)

    # 2. A Hessian-vector product by differentiating the gradient (create_graph=True).
    a = mg.Tensor(rng.standard_normal((3, 3)))
    z = mg.Tensor(rng.standard_normal(3), requires_grad=True)
    v = rng.standard_normal(3)
    (gradient,) = mg.grad(z @ (a @ z), z, create_graph=True)
    (hvp,) = mg.grad(gradient, z, grad_outputs=v)
    closed_form = (a.data + a.data.T) @ v
    print("Hessian-vector product:", hvp.data, "closed form (A + Aᵀ)v:", closed_form)

    # 3. Extreme inputs stay finite in value and gradient.
    logits = mg.Tensor([-1000.0, 0.0, 1000.0], requires_grad=True)
    mg.sigmoid(logits).sum().backward()
    print("sigmoid'([-1000, 0, 1000]) =", logits.grad.data)


if __name__ == "__main__":
    main()
