"""Seed 004's shopping graph, built from the tutorial's MulLayer and AddLayer.

    2 apples at 100 yen, 10% tax                  -> 220 yen
    2 apples at 100 and 3 oranges at 150, 10% tax -> 715 yen

and the derivative of the price with respect to every input, computed by
backward through the graph. Run: python examples/seed004_shopping.py
"""

from __future__ import annotations

import chainrule as cr


class MulLayer(cr.Function):
    """The tutorial's multiplication node: forward saves x and y, backward swaps them."""

    def forward(self, x, y):
        self.x = x
        self.y = y
        return x * y

    def backward(self, dout):
        dx = dout * self.y  # d(xy)/dx = y
        dy = dout * self.x  # d(xy)/dy = x
        return dx, dy


class AddLayer(cr.Function):
    """The tutorial's addition node: the gradient passes through unchanged."""

    def forward(self, x, y):
        return x + y

    def backward(self, dout):
        return dout * 1, dout * 1


def apples(apple=100.0, apple_num=2.0, tax=1.1):
    """Problem 1. Returns the price and the gradients of every input."""
    apple = cr.tensor(apple, dtype=cr.float64, requires_grad=True, name="apple")
    apple_num = cr.tensor(apple_num, dtype=cr.float64, requires_grad=True, name="apple_num")
    tax = cr.tensor(tax, dtype=cr.float64, requires_grad=True, name="tax")
    apple_price = MulLayer()(apple, apple_num)
    price = MulLayer()(apple_price, tax)
    price.backward()
    return {
        "price": price.item(),
        "d_apple": apple.grad.item(),
        "d_apple_num": apple_num.grad.item(),
        "d_tax": tax.grad.item(),
    }


def apples_and_oranges(apple=100.0, apple_num=2.0, orange=150.0, orange_num=3.0, tax=1.1):
    """Problem 2: the add node joins the two branches."""
    t = {
        k: cr.tensor(v, dtype=cr.float64, requires_grad=True, name=k)
        for k, v in dict(apple=apple, apple_num=apple_num, orange=orange, orange_num=orange_num, tax=tax).items()
    }
    apple_price = MulLayer()(t["apple"], t["apple_num"])
    orange_price = MulLayer()(t["orange"], t["orange_num"])
    all_price = AddLayer()(apple_price, orange_price)
    price = MulLayer()(all_price, t["tax"])
    price.backward()
    out = {"price": price.item()}
    out.update({f"d_{k}": v.grad.item() for k, v in t.items()})
    return out


def main():
    r1 = apples()
    print(f"2 apples at 100, tax 1.1: price {r1['price']:.6g}")
    print(
        f"  dprice/dapple {r1['d_apple']:.6g}, dprice/dapple_num {r1['d_apple_num']:.6g}, dprice/dtax {r1['d_tax']:.6g}"
    )
    r2 = apples_and_oranges()
    print(f"2 apples at 100 and 3 oranges at 150, tax 1.1: price {r2['price']:.6g}")
    for k in ("apple", "apple_num", "orange", "orange_num", "tax"):
        print(f"  dprice/d{k} {r2['d_' + k]:.6g}")


if __name__ == "__main__":
    main()
