# One-off: the nf4 run with bitsandbytes' CPU repacking left on (the code before f5609af).
import sys
import llmcpu_eval.train as t
t._keep_4bit_weights_differentiable = lambda model: None
from llmcpu_eval.cli import main
sys.exit(main(sys.argv[1:]))
