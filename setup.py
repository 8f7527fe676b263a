"""Installs the app; bench runs `pip install -e` and never reads requirements.txt itself."""

from pathlib import Path

from setuptools import find_namespace_packages, setup

HERE = Path(__file__).parent
VERSION = "0.1.0"
for line in (HERE / "assistant_crm" / "__init__.py").read_text().splitlines():
    if line.startswith("__version__"):
        VERSION = line.split("=", 1)[1].strip().strip("\"'")

install_requires = [
    line.strip()
    for line in (HERE / "requirements.txt").read_text().splitlines()
    if line.strip() and not line.startswith(("#", "-"))
]

setup(
    name="assistant_crm",
    version=VERSION,
    description="WCFCB AI customer-service assistant and omnichannel CRM",
    author="WCFCB",
    author_email="ict@workers.com.zm",
    packages=find_namespace_packages(include=["assistant_crm", "assistant_crm.*"]),
    zip_safe=False,
    include_package_data=True,
    install_requires=install_requires,
    extras_require={"gemini": ["google-genai>=1.0"]},
    python_requires=">=3.10",
    entry_points={"console_scripts": ["assistant-crm = assistant_crm.standalone.cli:main"]},
)
