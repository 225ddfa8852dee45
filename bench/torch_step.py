# PyTorch reference of flowsweep's bench steps (bench/bench.ts --compare-torch), run by Debian's python3-torch:
#   OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_step.py      (reads one JSON request per line on stdin)
# Request {"case": NAME, "steps": n, "warmup": w}; answer: one JSON line with per-step wall and CPU milliseconds.
# The model of a case persists between requests (warm-up once), so bench.ts can interleave rounds with its own.
#
# Cases (the same work as flowsweep's cases of the same name; paper MLP D -> 256 -> 256 -> 256 -> 2D, SiLU, B = 256,
# Adam, one training step = sample B forward trajectories of the D-bit GFlowNet + the update):
#   tb-learned-D{32,225}: trajectory balance with a learned log Z, (log Z + log q(tau) - log R(x))^2 averaged.
#     Two ways to write it; both are timed and bench.ts takes the faster one as PyTorch's figure:
#     "naive"  - the graph is built while sampling (one forward per step, backward through all of them);
#     "reeval" - sampling under no_grad, then one batched forward with the graph over all T*B rows.
#   akl-optvector-D{32,225}: reverse KL with the optimal vector control variate (paper eq. for b_d): per-sample
#     scores h_s = grad log q(tau_s) by per-layer einsums of activations and backpropagated signals (the vectorised
#     way to get per-sample gradients in PyTorch 1.13), b_d = sum_s log w_s h_sd^2 / sum_s h_sd^2,
#     g = mean_s (b - log w_s) h_s.
import json, math, sys, time
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
B, H = 256, 256


class Case:
    def __init__(self, D, kind):
        torch.manual_seed(0)
        self.D, self.kind = D, kind
        sizes = [D, H, H, H, 2 * D]
        self.W = [torch.empty(sizes[i], sizes[i + 1]).uniform_(-1, 1).mul_(math.sqrt(6 / sizes[i])).requires_grad_()
                  for i in range(4)]
        self.b = [torch.zeros(sizes[i + 1], requires_grad=True) for i in range(4)]
        self.logZ = torch.zeros((), requires_grad=True)
        self.params = [p for pair in zip(self.W, self.b) for p in pair]
        self.opt = torch.optim.Adam(self.params + [self.logZ], lr=1e-3)
        self.ar = torch.arange(B)
        self.field = torch.randn(D)

    def forward(self, x, keep=False):
        zs, acts = [], [x]
        a = x
        for l in range(3):
            z = a @ self.W[l] + self.b[l]
            a = F.silu(z)
            zs.append(z)
            acts.append(a)
        out = a @ self.W[3] + self.b[3]
        return (out, zs, acts) if keep else out

    def log_r(self, state):
        return state @ self.field

    def sample(self):
        """No-grad sampling: states (T, B, D) before each step, chosen columns, final state."""
        D = self.D
        with torch.no_grad():
            perm = torch.argsort(torch.rand(B, D), dim=1)
            state = torch.zeros(B, D)
            states = torch.empty(D, B, D)
            chosen = torch.empty(D, B, dtype=torch.long)
            other = torch.empty(D, B, dtype=torch.long)
            for t in range(D):
                states[t] = state
                pair = self.forward(state).view(B, D, 2)[self.ar, perm[:, t]]
                v = (torch.rand(B) < torch.sigmoid(pair[:, 1] - pair[:, 0])).long()
                state[self.ar, perm[:, t]] = (2 * v - 1).float()
                chosen[t] = 2 * perm[:, t] + v
                other[t] = 2 * perm[:, t] + 1 - v
        return states, chosen, other, state

    def row_logp(self, out, chosen, other):
        lc = out.gather(1, chosen.view(-1, 1)).squeeze(1)
        lo = out.gather(1, other.view(-1, 1)).squeeze(1)
        return -F.softplus(lo - lc)  # log p of the chosen value among the pair

    def step_tb_reeval(self):
        states, chosen, other, final = self.sample()
        lp = self.row_logp(self.forward(states.view(-1, self.D)), chosen, other)
        loss = ((self.logZ + lp.view(self.D, B).sum(0) - self.log_r(final)) ** 2).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    def step_tb_naive(self):
        D = self.D
        perm = torch.argsort(torch.rand(B, D), dim=1)
        state = torch.zeros(B, D)
        lq = torch.zeros(B)
        for t in range(D):
            pair = self.forward(state).view(B, D, 2)[self.ar, perm[:, t]]
            with torch.no_grad():
                v = (torch.rand(B) < torch.sigmoid(pair[:, 1] - pair[:, 0])).long()
            lq = lq + F.log_softmax(pair, dim=1)[self.ar, v]
            state = state.clone()  # the old state is saved for backward
            state[self.ar, perm[:, t]] = (2 * v - 1).float()
        loss = ((self.logZ + lq - self.log_r(state)) ** 2).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    def step_akl_optvector(self):
        D = self.D
        states, chosen, other, final = self.sample()
        x = states.view(-1, D)
        out, zs, acts = self.forward(x, keep=True)
        lp = self.row_logp(out, chosen, other)
        with torch.no_grad():
            logw = self.log_r(final) - lp.view(D, B).sum(0)
        deltas = torch.autograd.grad(lp.sum(), zs + [out])  # unit signals d log p_row / d Z_l
        with torch.no_grad():
            lw = logw
            grads = []
            for l in range(4):
                A = acts[l].view(D, B, -1)
                dz = deltas[l].view(D, B, -1)
                for h in (torch.einsum("tbi,tbj->bij", A, dz), dz.sum(0)):  # per-sample dW_l, db_l
                    shape = (B,) + (1,) * (h.dim() - 1)
                    h2 = h * h
                    den = h2.sum(0)
                    num = (lw.view(shape) * h2).sum(0)
                    base = torch.where(den > 0, num / den.clamp_min(1e-30), lw.mean())
                    grads.append(((base.unsqueeze(0) - lw.view(shape)) * h).mean(0))
            self.opt.zero_grad(set_to_none=True)
            for p, g in zip(self.params, grads):
                p.grad = g
            self.opt.step()


CASES = {}


def get(name):
    if name not in CASES:
        kind, D = name.rsplit("-D", 1)
        CASES[name] = Case(int(D), kind)
    return CASES[name]


def timed(fn, n):
    wall, cpu = [], []
    for _ in range(n):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - w0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return wall, cpu


def main():
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        c = get(req["case"])
        modes = {"naive": c.step_tb_naive, "reeval": c.step_tb_reeval} if c.kind == "tb-learned" else {
            "vectorised": c.step_akl_optvector}
        res = {"case": req["case"], "modes": {}}
        for mode, fn in modes.items():
            timed(fn, req.get("warmup", 0))
            wall, cpu = timed(fn, req["steps"])
            res["modes"][mode] = {"wall_ms": wall, "cpu_ms": cpu}
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
