"""Trial: the scorecard where the --compare models see every real image framed on its galaxy (autoframe.py).

    python benchmarks/trials/score_framed.py --exports BASELINE-EXPORTS... --compare FRAMED-EXPORTS... --tag _framed
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import scorecard
from autoframe import load_framed

_plain = scorecard.predict_group
_framed_sets = {}

def predict_group(exports, variant, sets):
    if exports != COMPARE:
        return _plain(exports, variant, sets)
    if not _framed_sets:
        load = scorecard.load_image
        scorecard.load_image = load_framed
        _framed_sets.update(scorecard.load_sets())
        scorecard.load_image = load
    for name in sets:
        assert (sets[name][1] == _framed_sets[name][1]).all()
    return _plain(exports, variant, _framed_sets)

COMPARE = sys.argv[sys.argv.index("--compare") + 1:]
COMPARE = COMPARE[:next((i for i, a in enumerate(COMPARE) if a.startswith("--")), len(COMPARE))]
scorecard.predict_group = predict_group
sys.argv[0] = "scorecard.py"
scorecard.main()
