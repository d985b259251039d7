"""QA4RE relation verbalisations as data: ``{subj}`` / ``{obj}`` are the bracketed entities ``[head]`` / ``[tail]``.

Sources:
  SemEval-2010 Task 8 and TACRED (TACRED, TACREV: same labels) are transcribed verbatim from the QA4RE reference
  code, OSU-NLP-Group/QA4RE, file ``projs/re_templates.py`` at commit a299f6e9d9c881c4b9ca3231aa97b8cca99133b6
  (``SURE_SEMEVAL_LABEL_TEMPLATES``, ``SURE_TACRED_LABEL_TEMPLATES`` ("template 2 in the paper, what QA4RE
  uses"), the option order of ``SEMEVAL_VALID_CONDITIONS_REV["MISC:MISC"]`` and ``TACRED_VALID_CONDITIONS_REV``).
  CoNLL04 and the embedded synthetic set are this harness's own, worded in the same style. Their type
  signatures (``CONLL04_TYPE_CONSTRAINTS``) are CoNLL04's: each relation has exactly one.
The none-of-the-above (NoTA) verbalisation is the reference's for every set: "{subj} has no known relations to {obj}".
Re-TACRED's templates (``SURE_RETACRED_LABEL_TEMPLATES``) are not transcribed here.
"""

NOTA_TEMPLATE = "{subj} has no known relations to {obj}"

SEMEVAL_TEMPLATES = {
    'Other': '{subj} has no known relations to {obj}',
    'Component-Whole(e1,e2)': '{subj} is the component of {obj}',
    'Component-Whole(e2,e1)': '{obj} is the component of {subj}',
    'Instrument-Agency(e1,e2)': '{subj} is the instrument of {obj}',
    'Instrument-Agency(e2,e1)': '{obj} is the instrument of {subj}',
    'Member-Collection(e1,e2)': '{subj} is the member of {obj}',
    'Member-Collection(e2,e1)': '{obj} is the member of {subj}',
    'Cause-Effect(e1,e2)': '{subj} has the effect {obj}',
    'Cause-Effect(e2,e1)': '{obj} has the effect {subj}',
    'Entity-Destination(e1,e2)': '{obj} is the destination of {subj}',
    'Entity-Destination(e2,e1)': '{subj} is the destination of {obj}',
    'Content-Container(e1,e2)': '{obj} contains {subj}',
    'Content-Container(e2,e1)': '{subj} contains {obj}',
    'Message-Topic(e1,e2)': '{obj} is the topic of {subj}',
    'Message-Topic(e2,e1)': '{subj} is the topic of {obj}',
    'Product-Producer(e1,e2)': '{obj} produces {subj}',
    'Product-Producer(e2,e1)': '{subj} produces {obj}',
    'Entity-Origin(e1,e2)': '{subj} origins from {obj}',
    'Entity-Origin(e2,e1)': '{obj} origins from {subj}',
}
SEMEVAL_ORDER = (  # the reference's option order (Other, the NoTA, goes last)
    'Component-Whole(e1,e2)',
    'Component-Whole(e2,e1)',
    'Instrument-Agency(e1,e2)',
    'Instrument-Agency(e2,e1)',
    'Member-Collection(e1,e2)',
    'Member-Collection(e2,e1)',
    'Cause-Effect(e1,e2)',
    'Cause-Effect(e2,e1)',
    'Entity-Destination(e1,e2)',
    'Entity-Destination(e2,e1)',
    'Content-Container(e1,e2)',
    'Content-Container(e2,e1)',
    'Message-Topic(e1,e2)',
    'Message-Topic(e2,e1)',
    'Product-Producer(e1,e2)',
    'Product-Producer(e2,e1)',
    'Entity-Origin(e1,e2)',
    'Entity-Origin(e2,e1)',
)

TACRED_TEMPLATES = {
    'no_relation': '{subj} has no known relations to {obj}',
    'per:stateorprovince_of_death': '{subj} died in the state or province {obj}',
    'per:title': '{subj} is a {obj}',
    'org:member_of': '{subj} is the member of {obj}',
    'per:other_family': '{subj} is the other family member of {obj}',
    'org:country_of_headquarters': '{subj} has a headquarter in the country {obj}',
    'org:parents': '{subj} has the parent company {obj}',
    'per:stateorprovince_of_birth': '{subj} was born in the state or province {obj}',
    'per:spouse': '{subj} is the spouse of {obj}',
    'per:origin': '{subj} has the nationality {obj}',
    'per:date_of_birth': '{subj} has birthday on {obj}',
    'per:schools_attended': '{subj} studied in {obj}',
    'org:members': '{subj} has the member {obj}',
    'org:founded': '{subj} was founded in {obj}',
    'per:stateorprovinces_of_residence': '{subj} lives in the state or province {obj}',
    'per:date_of_death': '{subj} died in the date {obj}',
    'org:shareholders': '{subj} has shares hold in {obj}',
    'org:website': '{subj} has the website {obj}',
    'org:subsidiaries': '{subj} owns {obj}',
    'per:charges': '{subj} is convicted of {obj}',
    'org:dissolved': '{subj} dissolved in {obj}',
    'org:stateorprovince_of_headquarters': '{subj} has a headquarter in the state or province {obj}',
    'per:country_of_birth': '{subj} was born in the country {obj}',
    'per:siblings': '{subj} is the siblings of {obj}',
    'org:top_members/employees': '{subj} has the high level member {obj}',
    'per:cause_of_death': '{subj} died because of {obj}',
    'per:alternate_names': '{subj} has the alternate name {obj}',
    'org:number_of_employees/members': '{subj} has the number of employees {obj}',
    'per:cities_of_residence': '{subj} lives in the city {obj}',
    'org:city_of_headquarters': '{subj} has a headquarter in the city {obj}',
    'per:children': '{subj} is the parent of {obj}',
    'per:employee_of': '{subj} is the employee of {obj}',
    'org:political/religious_affiliation': '{subj} has political affiliation with {obj}',
    'per:parents': '{subj} has the parent {obj}',
    'per:city_of_birth': '{subj} was born in the city {obj}',
    'per:age': '{subj} has the age {obj}',
    'per:countries_of_residence': '{subj} lives in the country {obj}',
    'org:alternate_names': '{subj} is also known as {obj}',
    'per:religion': '{subj} has the religion {obj}',
    'per:city_of_death': '{subj} died in the city {obj}',
    'per:country_of_death': '{subj} died in the country {obj}',
    'org:founded_by': '{subj} was founded by {obj}',
}
TACRED_TYPE_CONSTRAINTS = {
    'PERSON:PERSON': ('per:alternate_names', 'per:spouse', 'per:parents', 'per:children', 'per:siblings', 'per:other_family'),
    'PERSON:MISC': ('per:alternate_names',),
    'PERSON:DATE': ('per:date_of_birth', 'per:date_of_death'),
    'PERSON:NUMBER': ('per:age',),
    'PERSON:DURATION': ('per:age',),
    'PERSON:COUNTRY': ('per:country_of_birth', 'per:origin', 'per:country_of_death', 'per:countries_of_residence'),
    'PERSON:STATE_OR_PROVINCE': ('per:stateorprovince_of_birth', 'per:stateorprovinces_of_residence', 'per:stateorprovince_of_death'),
    'PERSON:CITY': ('per:city_of_birth', 'per:city_of_death', 'per:cities_of_residence'),
    'PERSON:NATIONALITY': ('per:origin', 'per:countries_of_residence'),
    'PERSON:LOCATION': ('per:origin', 'per:city_of_death', 'per:cities_of_residence'),
    'PERSON:CAUSE_OF_DEATH': ('per:cause_of_death',),
    'PERSON:ORGANIZATION': ('per:schools_attended', 'per:employee_of'),
    'PERSON:TITLE': ('per:title',),
    'PERSON:RELIGION': ('per:religion',),
    'PERSON:CRIMINAL_CHARGE': ('per:charges',),
    'ORGANIZATION:ORGANIZATION': ('org:alternate_names', 'org:members', 'org:member_of', 'org:subsidiaries', 'org:parents', 'org:shareholders'),
    'ORGANIZATION:MISC': ('org:alternate_names',),
    'ORGANIZATION:RELIGION': ('org:political/religious_affiliation',),
    'ORGANIZATION:IDEOLOGY': ('org:political/religious_affiliation',),
    'ORGANIZATION:PERSON': ('org:top_members/employees', 'org:founded_by', 'org:shareholders'),
    'ORGANIZATION:NUMBER': ('org:number_of_employees/members',),
    'ORGANIZATION:COUNTRY': ('org:members', 'org:member_of', 'org:parents', 'org:country_of_headquarters'),
    'ORGANIZATION:LOCATION': ('org:member_of', 'org:subsidiaries', 'org:city_of_headquarters'),
    'ORGANIZATION:STATE_OR_PROVINCE': ('org:member_of', 'org:stateorprovince_of_headquarters'),
    'ORGANIZATION:DATE': ('org:founded', 'org:dissolved'),
    'ORGANIZATION:CITY': ('org:city_of_headquarters',),
    'ORGANIZATION:URL': ('org:website',),
}
CONLL04_TEMPLATES = {
    "No_Relation": NOTA_TEMPLATE,
    "Kill": "{subj} killed {obj}",
    "Live_In": "{subj} lives in {obj}",
    "Located_In": "{subj} is located in {obj}",
    "OrgBased_In": "{subj} is an organization based in {obj}",
    "Work_For": "{subj} works for {obj}",
}
CONLL04_TYPE_CONSTRAINTS = {
    "Peop:Peop": ("Kill",),
    "Peop:Loc": ("Live_In",),
    "Loc:Loc": ("Located_In",),
    "Org:Loc": ("OrgBased_In",),
    "Peop:Org": ("Work_For",),
}

SYNTHETIC_TEMPLATES = {
    "No_Relation": NOTA_TEMPLATE,
    "Works_For": "{subj} works for {obj}",
    "Lives_In": "{subj} lives in {obj}",
    "Part_Of": "{subj} is a part of {obj}",
    "Causes": "{subj} causes {obj}",
    "Located_In": "{subj} is located in {obj}",
}
