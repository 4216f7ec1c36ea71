"""``crds/`` is generated from the models and must not drift from them."""

from __future__ import annotations

from pathlib import Path

import yaml

from kitaru_operator.crdgen import CHART_CRD_DIR, CRD_DIR, all_crds, main, render


def test_committed_crds_match_the_models() -> None:
    for name, crd in all_crds().items():
        committed = (CRD_DIR / name).read_text()
        assert committed == render(crd), (
            f"crds/{name} is stale: run python -m kitaru_operator.crdgen")


def test_the_helm_chart_renders_the_same_crds() -> None:
    for name in all_crds():
        assert (CHART_CRD_DIR / name).read_text() == (CRD_DIR / name).read_text(), (
            f"helm/kitaru/files/crds/{name} is stale: run python -m kitaru_operator.crdgen")


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "executions.yaml").write_text("stale")
    assert main(["--check", "--out", str(tmp_path)]) == 1


def test_schemas_are_structural_and_explained() -> None:
    execution = yaml.safe_load((CRD_DIR / "executions.yaml").read_text())
    version = execution["spec"]["versions"][0]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["type"] == "object"
    assert "wait" in spec["properties"]["answers"]["description"]
    assert "$ref" not in str(version) and "anyOf" not in str(version)
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["Flow", "Version", "Phase", "Waiting On", "Until", "Checkpoints",
                       "Checkpoint Pods", "Run", "Age"]
    flowversion = yaml.safe_load((CRD_DIR / "flowversions.yaml").read_text())
    fv_spec = flowversion["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert fv_spec["x-kubernetes-validations"][0]["rule"] == "self == oldSelf"
    assert set(fv_spec["required"]) == {"flow", "version", "image", "entrypoint"}
