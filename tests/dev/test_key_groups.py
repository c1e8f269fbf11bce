"""pulse.dev.key_groups against Flink's own KeyGroupRangeAssignment, run by a small Java program on flink-dist's jar
with the key exactly as PyFlink's KeyByKeySelector builds it (a one-field Row holding the tenant's String)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from pyflink.find_flink_home import _find_flink_home

from pulse.dev.key_groups import default_max_parallelism, key_group, row_hash, subtask

CHECK = """
import java.io.*;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.types.Row;

public class KeyGroups {
    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
        String name;
        while ((name = in.readLine()) != null) {
            Row key = new Row(1);
            key.setField(0, name);
            for (String arg : args) {
                int parallelism = Integer.parseInt(arg);
                int max = KeyGroupRangeAssignment.computeDefaultMaxParallelism(parallelism);
                System.out.println(parallelism + " " + max + " " + key.hashCode() + " "
                    + KeyGroupRangeAssignment.assignToKeyGroup(key, max) + " "
                    + KeyGroupRangeAssignment.assignKeyToParallelOperator(key, max, parallelism));
            }
        }
    }
}
"""
NAMES = [f"shop{i:04d}" for i in range(1000)] + ["acme", "globex", "initech", "", "Bäckerei Müller", "店舗-𝔸"]


PARALLELISMS = (1, 2, 3, 200)


@pytest.mark.flink  # runs Flink's class in a JVM
def test_every_name_lands_on_the_subtask_flink_gives_it(tmp_path):
    if shutil.which("javac") is None:
        pytest.skip("javac not found: install a JDK 17 to compare with Flink's own class")
    (tmp_path / "KeyGroups.java").write_text(CHECK)
    jar = next((Path(_find_flink_home()) / "lib").glob("flink-dist-*.jar"))
    subprocess.run(["javac", "-cp", str(jar), "KeyGroups.java"], cwd=tmp_path, check=True, timeout=120)
    result = subprocess.run(
        ["java", "-cp", f"{jar}:{tmp_path}", "KeyGroups", *map(str, PARALLELISMS)],
        input="\n".join(NAMES) + "\n", capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    flink = [tuple(map(int, line.split())) for line in result.stdout.splitlines()]
    ours = []
    for name in NAMES:
        for p in PARALLELISMS:
            groups = default_max_parallelism(p)
            ours.append((p, groups, row_hash(name), key_group(name, groups), subtask(name, p)))
    assert ours == flink
